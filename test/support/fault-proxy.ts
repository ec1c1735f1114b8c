/**
 * A fault-injecting HTTP proxy for tests: forwards every request to `upstream` (a registry) and, when
 * told, misbehaves the way real networks and registries do.
 *
 *   const proxy = await startFaultProxy({ upstream: registry.url });
 *   proxy.failNext(3, 503);                       // next 3 requests answer 503
 *   proxy.failNext(2, 429, { 'retry-after': '1' }); // 429 with Retry-After
 *   proxy.corruptBlob(digest);                    // flip the middle byte of that blob's body (every time)
 *   proxy.corruptBlob(digest, 0);                 // flip its first byte instead
 *   proxy.truncateBlob(digest, 100);              // send only the first 100 bytes, then close
 *   proxy.stallBlob(digest, 100);                 // send the first 100 bytes, then nothing (kept open)
 *   proxy.redirectBlobs(otherUrl);                // 307 every blob GET to otherUrl + same path
 *   proxy.throttleBlobs(256 * 1024);              // blob GET bodies at most this many bytes/s (undefined: off)
 *   proxy.blobBytes                               // blob GET body bytes sent to clients so far
 *   proxy.maxBlobsInFlight                        // most blob GET bodies being sent at one time
 *   proxy.requests                                // [{ method, path, authorization? }] seen so far
 *   proxy.count('GET', /\/blobs\//)               // how many matched
 *   proxy.reset()                                 // clear faults (not the request log)
 *
 * `host` is "127.0.0.1:port" for references; the proxy speaks plain HTTP (use --plain-http).
 */
import { createServer, request as httpRequest, type IncomingMessage, type ServerResponse } from 'node:http';
import { request as httpsRequest } from 'node:https';
import type { AddressInfo } from 'node:net';

export interface SeenRequest {
  method: string;
  path: string;
  authorization?: string;
}

export interface FaultProxy {
  host: string;
  url: string;
  requests: SeenRequest[];
  failNext(count: number, status: number, headers?: Record<string, string>): void;
  corruptBlob(digest: string, at?: number): void;
  truncateBlob(digest: string, bytes: number): void;
  stallBlob(digest: string, bytes: number): void;
  redirectBlobs(toBaseUrl: string | undefined): void;
  throttleBlobs(bytesPerSecond: number | undefined): void;
  readonly blobBytes: number;
  readonly maxBlobsInFlight: number;
  count(method: string, path: RegExp): number;
  reset(): void;
  stop(): Promise<void>;
}

export async function startFaultProxy(options: {
  upstream: string;
  ca?: string | Buffer;
}): Promise<FaultProxy> {
  const upstream = new URL(options.upstream);
  let failures: { status: number; headers: Record<string, string> }[] = [];
  const corrupt = new Map<string, number | undefined>();
  const truncate = new Map<string, number>();
  const stall = new Map<string, number>();
  let redirectTo: string | undefined;
  let throttle: number | undefined;
  let blobBytes = 0;
  let blobsInFlight = 0;
  let maxBlobsInFlight = 0;
  const requests: SeenRequest[] = [];

  const handle = (req: IncomingMessage, res: ServerResponse) => {
    const path = req.url ?? '/';
    requests.push({ method: req.method ?? 'GET', path, authorization: req.headers.authorization });
    const failure = failures.shift();
    if (failure) {
      req.resume();
      res.writeHead(failure.status, { 'content-type': 'application/json', ...failure.headers });
      res.end(JSON.stringify({ errors: [{ code: 'UNAVAILABLE', message: 'injected fault' }] }));
      return;
    }
    const blob = /\/blobs\/(sha256:[a-f0-9]{64})$/.exec(path.split('?')[0] ?? '')?.[1];
    if (redirectTo && blob && req.method === 'GET') {
      req.resume();
      res.writeHead(307, { location: `${redirectTo}${path}` });
      res.end();
      return;
    }
    const headers = { ...req.headers, host: upstream.host };
    const send = upstream.protocol === 'https:' ? httpsRequest : httpRequest;
    const forward = send(
      {
        protocol: upstream.protocol,
        hostname: upstream.hostname,
        port: upstream.port,
        method: req.method,
        path,
        headers,
        ca: options.ca,
      },
      (up) => {
        const outHeaders = { ...up.headers };
        if (typeof outHeaders.location === 'string' && outHeaders.location.startsWith(upstream.origin)) {
          outHeaders.location = outHeaders.location.replace(upstream.origin, `http://${host}`);
        }
        const cut = blob && req.method === 'GET' ? truncate.get(blob) : undefined;
        const stallAt = blob && req.method === 'GET' ? stall.get(blob) : undefined;
        res.writeHead(up.statusCode ?? 502, outHeaders);
        if (blob && req.method === 'GET') {
          maxBlobsInFlight = Math.max(maxBlobsInFlight, ++blobsInFlight);
          res.once('close', () => blobsInFlight--);
        }
        let sent = 0;
        // By default the flipped byte sits in the middle of the body, so the content still parses (a Wasm
        // header stays intact) and only the digest check can notice, however the body is chunked.
        const flipAt =
          (blob ? corrupt.get(blob) : undefined) ?? Math.floor(Number(up.headers['content-length'] ?? 0) / 2);
        let seen = 0;
        up.on('data', (chunk: Buffer) => {
          let out = chunk;
          if (
            blob &&
            req.method === 'GET' &&
            corrupt.has(blob) &&
            flipAt >= seen &&
            flipAt < seen + chunk.length
          ) {
            out = Buffer.from(chunk);
            out[flipAt - seen] = (out[flipAt - seen] ?? 0) ^ 0xff;
          }
          seen += chunk.length;
          const limit = cut ?? stallAt;
          if (limit !== undefined) {
            const room = limit - sent;
            if (room <= 0) return;
            out = out.subarray(0, room);
          }
          sent += out.length;
          if (blob && req.method === 'GET') blobBytes += out.length;
          // A cut body is cut after these bytes reach the client (headers included), not before.
          const cutNow = cut !== undefined && sent >= cut;
          res.write(out, () => {
            if (cutNow) res.socket?.destroy();
          });
          if (throttle !== undefined && blob && req.method === 'GET') {
            // Pause the upstream long enough that this chunk keeps the rate under the limit.
            up.pause();
            setTimeout(() => up.resume(), Math.ceil((out.length / throttle) * 1000));
          }
          if (cutNow) up.destroy();
          // A stalled body stops here; the connection stays open until the client gives up.
          if (stallAt !== undefined && sent >= stallAt) up.destroy();
        });
        up.on('end', () => res.end());
        up.on('error', () => res.socket?.destroy());
      },
    );
    forward.on('error', () => {
      if (!res.headersSent) res.writeHead(502);
      res.end();
    });
    req.pipe(forward);
  };

  const server = createServer(handle);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const host = `127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    host,
    url: `http://${host}`,
    requests,
    failNext: (count, status, headers = {}) => {
      for (let i = 0; i < count; i++) failures.push({ status, headers });
    },
    corruptBlob: (digest, at) => corrupt.set(digest, at),
    truncateBlob: (digest, bytes) => truncate.set(digest, bytes),
    stallBlob: (digest, bytes) => stall.set(digest, bytes),
    redirectBlobs: (to) => (redirectTo = to),
    throttleBlobs: (bytesPerSecond) => (throttle = bytesPerSecond),
    get blobBytes() {
      return blobBytes;
    },
    get maxBlobsInFlight() {
      return maxBlobsInFlight;
    },
    count: (method, path) => requests.filter((r) => r.method === method && path.test(r.path)).length,
    reset: () => {
      failures = [];
      corrupt.clear();
      truncate.clear();
      stall.clear();
      redirectTo = undefined;
      throttle = undefined;
    },
    stop: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
