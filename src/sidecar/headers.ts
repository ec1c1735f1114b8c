/**
 * Conversion between HTTP/1.1 messages (src/http1) and the header maps filters see, which follow Envoy's
 * HTTP/2 style: pseudo-headers (:method, :path, :authority, :scheme / :status) first, lower-case names,
 * and no hop-by-hop headers (those belong to one connection, not to the message).
 */
import type { HeaderPairs } from '../runtime/index.js';

const HOP_BY_HOP = new Set([
  'connection',
  'keep-alive',
  'proxy-connection',
  'transfer-encoding',
  'upgrade',
  'te',
  'trailer',
  'http2-settings',
]);

/** Pairs of a raw header list ([name, value, name, value, ...]), minus hop-by-hop headers. */
function rawPairs(raw: string[], skip: Set<string>): HeaderPairs {
  const pairs: HeaderPairs = [];
  for (let i = 0; i + 1 < raw.length; i += 2) {
    const name = raw[i]!.toLowerCase();
    if (!HOP_BY_HOP.has(name) && !skip.has(name)) pairs.push([name, raw[i + 1]!]);
  }
  return pairs;
}

const SKIP_HOST = new Set(['host']);
const SKIP_HOST_AND_EXPECT = new Set(['host', 'expect']);

/** What requestPairs reads of a request (src/http1/server.ts's ServerRequest). */
export interface RequestLike {
  method: string;
  url: string;
  headers: Record<string, string | undefined>;
  rawHeaders: string[];
}

/** What applyHeaders needs of a message whose head has not been sent. */
export interface HeaderTarget {
  getHeaderNames(): string[];
  removeHeader(name: string): void;
  setHeader(name: string, value: string | string[]): unknown;
}
const SKIP_NONE = new Set<string>();

/**
 * `expect: 100-continue` was answered by the server (as Envoy answers it by default, and removes it):
 * it is not passed on.
 */
export function requestPairs(req: RequestLike, defaultAuthority: string): HeaderPairs {
  const skip = req.headers.expect?.toLowerCase() === '100-continue' ? SKIP_HOST_AND_EXPECT : SKIP_HOST;
  return [
    [':method', req.method],
    [':path', req.url],
    [':authority', req.headers.host ?? defaultAuthority],
    [':scheme', 'http'],
    ...rawPairs(req.rawHeaders, skip),
  ];
}

export function responsePairs(res: { statusCode?: number; rawHeaders: string[] }): HeaderPairs {
  return [[':status', String(res.statusCode ?? 502)], ...rawPairs(res.rawHeaders, SKIP_NONE)];
}

export function trailerPairs(raw: string[]): HeaderPairs {
  return rawPairs(raw, SKIP_NONE);
}

/** Regular headers grouped by name, ready for setHeader (repeated names become arrays). */
export function headerRecord(pairs: HeaderPairs): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = {};
  for (const [k, v] of pairs) {
    if (k.startsWith(':')) continue;
    const prev = out[k];
    out[k] = prev === undefined ? v : Array.isArray(prev) ? [...prev, v] : [prev, v];
  }
  return out;
}

export function pseudo(pairs: HeaderPairs, name: string): string | undefined {
  for (const [k, v] of pairs) if (k === name) return v;
  return undefined;
}

/** Replaces every header of an unsent message with `pairs`. */
export function applyHeaders(msg: HeaderTarget, pairs: HeaderPairs): void {
  for (const name of msg.getHeaderNames()) msg.removeHeader(name);
  for (const [k, v] of Object.entries(headerRecord(pairs))) msg.setHeader(k, v);
}
