/**
 * The sidecar's HostIO: proxy_http_call goes over real HTTP to the named cluster's base URL, the tick
 * timer is a real interval. Everything is torn down with the VM (timer cleared, calls aborted), and
 * timers are unref'd so a filter's timer never keeps the process alive on its own.
 */
import { request as httpRequest, type IncomingHttpHeaders } from 'node:http';
import { request as httpsRequest } from 'node:https';
import type { HeaderPairs, HostIO, HttpCallRequest, HttpCallResponse } from '../runtime/index.js';

const DEFAULT_CALL_TIMEOUT_MS = 30_000;

function responsePairs(status: number, headers: IncomingHttpHeaders): HeaderPairs {
  const pairs: HeaderPairs = [[':status', String(status)]];
  for (const [k, v] of Object.entries(headers)) {
    if (v === undefined) continue;
    for (const one of Array.isArray(v) ? v : [v]) pairs.push([k, one]);
  }
  return pairs;
}

export class SidecarIO implements HostIO {
  private timer: NodeJS.Timeout | undefined;
  private readonly inflight = new Set<AbortController>();
  private closed = false;

  constructor(private readonly clusters: ReadonlyMap<string, URL>) {}

  hasCluster(name: string): boolean {
    return this.clusters.has(name);
  }

  httpCall(call: HttpCallRequest, done: (response: HttpCallResponse | undefined) => void): void {
    const base = this.clusters.get(call.cluster)!;
    const abort = new AbortController();
    this.inflight.add(abort);
    let settled = false;
    const finish = (response: HttpCallResponse | undefined): void => {
      if (settled) return;
      settled = true;
      this.inflight.delete(abort);
      // Never deliver into a VM that is gone; never deliver synchronously inside the guest's call.
      if (!this.closed) setImmediate(() => done(response));
    };
    const headers: Record<string, string | string[]> = {};
    let method = 'GET';
    let path = '/';
    for (const [k, v] of call.headers) {
      if (k === ':method') method = v;
      else if (k === ':path') path = v;
      else if (k === ':authority') headers.host = v;
      else if (!k.startsWith(':')) headers[k] = headers[k] === undefined ? v : [headers[k]].flat().concat(v);
    }
    // The cluster's host and port only: a :path like "//elsewhere/" must not leave the cluster.
    const send = base.protocol === 'https:' ? httpsRequest : httpRequest;
    const req = send({
      protocol: base.protocol,
      hostname: base.hostname.replace(/^\[|\]$/g, ''),
      port: base.port || (base.protocol === 'https:' ? 443 : 80),
      path: path.startsWith('/') ? path : `/${path}`,
      method,
      headers,
      signal: abort.signal,
      timeout: call.timeoutMs > 0 ? call.timeoutMs : DEFAULT_CALL_TIMEOUT_MS,
    });
    req.on('timeout', () => req.destroy(new Error('http call timed out')));
    req.on('error', () => finish(undefined));
    req.on('response', (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('error', () => finish(undefined));
      res.on('end', () => {
        const trailers: HeaderPairs = Object.entries(res.trailers).map(([k, v]) => [k, String(v)]);
        finish({
          headers: responsePairs(res.statusCode ?? 0, res.headers),
          body: new Uint8Array(Buffer.concat(chunks)),
          trailers,
        });
      });
    });
    req.end(call.body.length > 0 ? call.body : undefined);
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
    for (const a of this.inflight) a.abort();
    this.inflight.clear();
  }
}
