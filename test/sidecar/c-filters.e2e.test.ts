/**
 * Filters from a second toolchain run unchanged: C proxy-wasm filters (test/fixtures/c, written against
 * the ABI with no SDK) built here with clang for wasm32-unknown-unknown and wasm32-wasi (reactor and
 * command), through the sidecar over real HTTP: local responses, body rewriting with header removal,
 * raw (non-JSON) configuration read with max_size 0xFFFFFFFF, an HTTP callout resumed with
 * proxy_continue_stream, WASI start-up (_initialize / _start), environment and stdout, and a root-only
 * module configured as an HTTP filter.
 */
import { createServer, request, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createLogger } from '../../src/log.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startSidecar, type Sidecar } from '../../src/sidecar/index.js';
import { buildCFilters, type CFilters } from '../support/c-filters.js';

const RAW_CONFIG = 'not json: {mode = "all"}; ' + 'x'.repeat(170); // ASCII: it goes back in a header
let filters: CFilters;
let upstream: Server;
let auth: Server;
let upstreamUrl: string;
let authUrl: string;
const seen: Array<{ url: string; headers: IncomingMessage['headers'] }> = [];
const authCalls: string[] = [];
const open: Sidecar[] = [];
const logs: Array<Record<string, unknown>> = [];
const logger = createLogger('test', 'info', {
  write: (l: string) => logs.push(JSON.parse(l) as Record<string, unknown>),
});

async function listen(server: Server): Promise<string> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

beforeAll(async () => {
  filters = await buildCFilters();
  upstream = createServer((req, res) => {
    seen.push({ url: req.url ?? '', headers: req.headers });
    req.resume();
    req.on('end', () => {
      res.setHeader('content-type', 'text/plain');
      res.setHeader('content-length', 14);
      res.end('hello upstream');
    });
  });
  auth = createServer((req, res) => {
    authCalls.push(`${req.method} ${req.url}`);
    res.end('ok');
  });
  upstreamUrl = await listen(upstream);
  authUrl = await listen(auth);
}, 60_000);

afterAll(async () => {
  await Promise.all(open.map((s) => s.close()));
  for (const s of [upstream, auth]) {
    s.closeAllConnections();
    s.close();
  }
});

interface Reply {
  status: number;
  headers: IncomingMessage['headers'];
  body: string;
}

function get(url: string): Promise<Reply> {
  return new Promise((resolve, reject) => {
    request(url, (res) => {
      let body = '';
      res.on('data', (c: Buffer) => (body += c.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
    })
      .on('error', reject)
      .end();
  });
}

async function sidecarWith(file: string, failOpen = false): Promise<Sidecar> {
  const s = await startSidecar({
    upstream: upstreamUrl,
    logger,
    clusters: { auth: authUrl },
    filters: [{ name: 'c', file, configuration: RAW_CONFIG, env: { C_GREETING: 'hi from env' }, failOpen }],
  });
  open.push(s);
  expect(s.filters[0]!.error).toBeUndefined();
  return s;
}

describe.each([
  ['wasm32-unknown-unknown', 'bare'],
  ['wasm32-wasi reactor', 'wasiReactor'],
  ['wasm32-wasi command', 'wasiCommand'],
] as const)('a C filter built for %s', (_target, variant) => {
  let s: Sidecar;
  beforeAll(async () => {
    s = await sidecarWith(filters[variant]);
  });

  it('reads its raw configuration in full (max_size 0xFFFFFFFF) and adds it to responses', async () => {
    const reply = await get(`${s.url}/plain`);
    expect(reply.status).toBe(200);
    expect(reply.body).toBe('hello upstream');
    expect(reply.headers['x-c-config']).toBe(RAW_CONFIG);
  });

  it('answers locally (the local reply still passes its response callbacks)', async () => {
    const before = seen.length;
    const reply = await get(`${s.url}/c/deny`);
    expect(reply.status).toBe(403);
    expect(reply.body).toBe('denied by C\n');
    expect(reply.headers['x-c-denied']).toBe('yes');
    expect(reply.headers['x-c-config']).toBeDefined();
    expect(seen.length).toBe(before); // the upstream never saw it
  });

  it('rewrites a buffered body after removing content-length: the client gets it chunked', async () => {
    const reply = await get(`${s.url}/c/rewrite`);
    expect(reply.body).toBe('rewritten by C: HELLO UPSTREAM');
    expect(reply.headers['content-length']).toBeUndefined();
    expect(reply.headers['transfer-encoding']).toBe('chunked');
  });

  it('pauses for an HTTP callout and resumes the request with proxy_continue_stream', async () => {
    const calls = authCalls.length;
    const reply = await get(`${s.url}/c/callout`);
    expect(reply.status).toBe(200);
    expect(authCalls.slice(calls)).toEqual(['GET /check']);
    expect(seen.at(-1)).toMatchObject({ url: '/c/callout', headers: { 'x-c-auth': '200' } });
  });

  if (variant !== 'bare') {
    it('runs the WASI start-up call, sees its environment and writes to stdout', async () => {
      const reply = await get(`${s.url}/wasi`);
      expect(reply.headers['x-c-init']).toBe(variant === 'wasiReactor' ? 'constructor ran' : 'main ran');
      expect(reply.headers['x-c-env']).toBe('hi from env');
      const configured = `C filter configured with ${Buffer.byteLength(RAW_CONFIG)} bytes`;
      expect(logs.some((l) => typeof l.msg === 'string' && l.msg.includes(configured))).toBe(true);
    });
  }
});

describe('a C root-only module configured as an HTTP filter', () => {
  it('keeps traffic flowing with fail-open', async () => {
    const s = await sidecarWith(filters.rootOnly, true);
    const reply = await get(`${s.url}/through`);
    expect(reply.status).toBe(200);
    expect(reply.body).toBe('hello upstream');
    expect(logs.some((l) => l.msg === 'C root-only module started')).toBe(true);
  });
});
