/**
 * The sidecar's HostIO: proxy_http_call goes over real HTTP to the named cluster's base URL, through the
 * same HTTP/1.1 client as the upstream (src/http1: pooled keep-alive connections per cluster, framing
 * checked both ways); the tick timer is a real interval. Everything is torn down with the VM (timer
 * cleared, calls and connections closed), and timers are unref'd so a filter's timer never keeps the
 * process alive on its own.
 */
import { createRequire } from 'node:module';
import type tls from 'node:tls';
import { addressOf, type Endpoint } from '../http1/connection.js';
import { Http1Pool } from '../http1/pool.js';
import type { Http1Request } from '../http1/request.js';
import type { Http1Response } from '../http1/response.js';
import type { HeaderPairs, HostIO, HttpCallRequest, HttpCallResponse } from '../runtime/index.js';

const DEFAULT_CALL_TIMEOUT_MS = 30_000;
/** Socket buffers of callout connections: callouts carry small bodies (auth checks, lookups). */
const SOCKET_BUFFER_BYTES = 64 * 1024;

function pairsOf(raw: string[], status?: number): HeaderPairs {
  const pairs: HeaderPairs = status === undefined ? [] : [[':status', String(status)]];
  for (let i = 0; i + 1 < raw.length; i += 2) pairs.push([raw[i]!.toLowerCase(), raw[i + 1]!]);
  return pairs;
}

export class SidecarIO implements HostIO {
  private timer: NodeJS.Timeout | undefined;
  private readonly inflight = new Set<Http1Request>();
  private readonly pools = new Map<string, Http1Pool>();
  private closed = false;

  constructor(private readonly clusters: ReadonlyMap<string, URL>) {}

  hasCluster(name: string): boolean {
    return this.clusters.has(name);
  }

  private poolFor(base: URL): Http1Pool {
    let pool = this.pools.get(base.origin);
    if (pool) return pool;
    const https = base.protocol === 'https:';
    const endpoint: Endpoint = {
      ...addressOf(base),
      // node:tls only for https clusters (a require: a callout is started synchronously).
      ...(https
        ? {
            tls: { connect: (createRequire(import.meta.url)('node:tls') as typeof tls).connect, options: {} },
          }
        : {}),
    };
    pool = new Http1Pool(endpoint, { socketBufferBytes: SOCKET_BUFFER_BYTES, peer: 'the cluster' });
    this.pools.set(base.origin, pool);
    return pool;
  }

  httpCall(call: HttpCallRequest, done: (response: HttpCallResponse | undefined) => void): void {
    const base = this.clusters.get(call.cluster)!;
    let settled = false;
    let request: Http1Request | undefined;
    const finish = (response: HttpCallResponse | undefined): void => {
      if (settled) return;
      settled = true;
      if (request) this.inflight.delete(request);
      // Never deliver into a VM that is gone; never deliver synchronously inside the guest's call.
      if (!this.closed) setImmediate(() => done(response));
    };
    const headers: Record<string, string | string[]> = {};
    let method = 'GET';
    let path = '/';
    for (const [k, v] of call.headers) {
      const name = k.toLowerCase();
      if (name === ':method') method = v;
      else if (name === ':path') path = v;
      else if (name === ':authority') headers.host = v;
      else if (!name.startsWith(':'))
        headers[name] = headers[name] === undefined ? v : [headers[name]].flat().concat(v);
    }
    headers.host ??= base.host;
    if (call.body.length > 0) headers['content-length'] = String(call.body.length);
    else delete headers['content-length'];
    delete headers['transfer-encoding'];
    try {
      // The cluster's host and port only: a :path like "//elsewhere/" must not leave the cluster.
      request = this.poolFor(base).request({
        method,
        path: path.startsWith('/') ? path : `/${path}`,
        headers,
        idleTimeoutMs: call.timeoutMs > 0 ? call.timeoutMs : DEFAULT_CALL_TIMEOUT_MS,
      });
    } catch {
      finish(undefined); // a method or header the guest made up that HTTP cannot carry
      return;
    }
    const sent = request;
    this.inflight.add(sent);
    sent.on('error', () => finish(undefined));
    sent.on('response', (res: Http1Response) => {
      const chunks: Uint8Array[] = [];
      res.read({
        data: (chunk) => void chunks.push(chunk),
        error: () => finish(undefined),
        end: () =>
          finish({
            headers: pairsOf(res.rawHeaders, res.statusCode),
            body: new Uint8Array(Buffer.concat(chunks)),
            trailers: pairsOf(res.rawTrailers),
          }),
      });
    });
    sent.end(call.body.length > 0 ? call.body : undefined);
  }

  setTickPeriod(periodMs: number, tick: () => void): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    if (periodMs > 0 && !this.closed) {
      this.timer = setInterval(tick, periodMs);
      this.timer.unref();
    }
  }

  close(): void {
    this.closed = true;
    if (this.timer) clearInterval(this.timer);
    for (const request of this.inflight) request.destroy();
    this.inflight.clear();
    for (const pool of this.pools.values()) pool.destroy();
  }
}
