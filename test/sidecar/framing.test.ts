/**
 * Streaming and framing through the sidecar, over real HTTP with real modules: each body chunk leaves
 * as soon as the chain continues it, headers leave when the chain continues them, and the framing the
 * client sees is what Envoy would send (no invented content-length, a correct one after a buffered
 * body replacement, HEAD / 204 / 304 / chunked passed as they are).
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer, request, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createLogger } from '../../src/log.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startSidecar, type Sidecar } from '../../src/sidecar/index.js';
import type { FilterSpec } from '../../src/sidecar/index.js';
import { HEADER_FILTER_WASM } from '../support/global-setup.js';
import { watFixture } from '../fixtures/wasm/index.js';

const quiet = createLogger('test', 'silent');
type Handler = (req: IncomingMessage, res: ServerResponse) => void;
let handler: Handler = (_req, res) => res.end();
let upstream: Server;
let upstreamUrl: string;
let dir: string;
const open: Sidecar[] = [];

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'meshwasm-framing-'));
  await writeFile(join(dir, 'rewrite.wasm'), await watFixture('rewrite'));
  await writeFile(join(dir, 'headers.wasm'), await watFixture('headers'));
  upstream = createServer((req, res) => handler(req, res));
  await new Promise<void>((resolve) => upstream.listen(0, '127.0.0.1', resolve));
  upstreamUrl = `http://127.0.0.1:${(upstream.address() as AddressInfo).port}`;
});

afterAll(async () => {
  await Promise.all(open.map((s) => s.close()));
  upstream.closeAllConnections();
  await new Promise((resolve) => upstream.close(resolve));
  await rm(dir, { recursive: true, force: true });
});

async function sidecar(filters: FilterSpec[]): Promise<Sidecar> {
  const s = await startSidecar({ upstream: upstreamUrl, logger: quiet, filters });
  open.push(s);
  return s;
}

/** The seed's AssemblyScript filter: header callbacks only, but it exports body callbacks (Continue). */
const HDR: FilterSpec = { name: 'hdr', file: HEADER_FILTER_WASM };
const rewrite = (): FilterSpec => ({ name: 'rewrite', file: join(dir, 'rewrite.wasm') });
/** A WAT module with header callbacks and no body callbacks at all: bodies are piped past it. */
const headersOnly = (): FilterSpec => ({ name: 'headers', file: join(dir, 'headers.wasm') });

interface Reply {
  status: number;
  headers: IncomingMessage['headers'];
  body: string;
}

function send(
  url: string,
  options: { method?: string; headers?: Record<string, string> } = {},
  body?: Buffer,
) {
  return new Promise<Reply>((resolve, reject) => {
    const req = request(url, { method: options.method ?? 'GET', headers: options.headers }, (res) => {
      let text = '';
      res.on('data', (c: Buffer) => (text += c.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: text }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(body);
  });
}

describe('framing', () => {
  it('passes a chunked response on chunked, with no content-length, through every kind of chain', async () => {
    handler = (_req, res) => {
      res.write('part one, ');
      res.end('part two');
    };
    for (const filters of [[], [HDR], [headersOnly()]]) {
      const s = await sidecar(filters);
      const reply = await send(`${s.url}/chunked`);
      expect(reply.body).toBe('part one, part two');
      expect(reply.headers['content-length']).toBeUndefined();
      expect(reply.headers['transfer-encoding']).toBe('chunked');
    }
  });

  it('keeps the upstream content-length as it is when the body is not changed', async () => {
    handler = (_req, res) => {
      res.setHeader('content-length', 11);
      res.end('hello world');
    };
    for (const filters of [[], [HDR], [headersOnly()]]) {
      const s = await sidecar(filters);
      const reply = await send(`${s.url}/sized`);
      expect(reply.body).toBe('hello world');
      expect(reply.headers['content-length']).toBe('11');
      expect(reply.headers['transfer-encoding']).toBeUndefined();
    }
  });

  it('sends a body a filter rewrote after removing content-length chunked, without inventing a length', async () => {
    handler = (_req, res) => {
      res.setHeader('x-drop-length', '1');
      res.setHeader('content-length', 16);
      res.end('original payload');
    };
    const s = await sidecar([rewrite()]);
    const reply = await send(`${s.url}/rewritten`);
    expect(reply.body).toBe('rewritten by the filter\n');
    expect(reply.headers['content-length']).toBeUndefined();
    expect(reply.headers['transfer-encoding']).toBe('chunked');
  });

  it('gives a buffered body a filter replaced the length of the new body when the upstream sent one', async () => {
    handler = (_req, res) => {
      res.setHeader('content-length', 16);
      res.write('original');
      setTimeout(() => res.end(' payload'), 20); // two chunks, buffered by the filter
    };
    const s = await sidecar([rewrite()]);
    const reply = await send(`${s.url}/replaced`);
    expect(reply.body).toBe('rewritten by the filter\n');
    expect(reply.headers['content-length']).toBe('24');
  });

  it('answers HEAD with the upstream headers (content-length included) and no body', async () => {
    handler = (req, res) => {
      res.setHeader('content-length', 1234);
      res.setHeader('content-type', 'application/octet-stream');
      if (req.method === 'HEAD') res.end();
      else res.end(Buffer.alloc(1234));
    };
    for (const filters of [[], [HDR], [rewrite()]]) {
      const s = await sidecar(filters);
      const reply = await send(`${s.url}/head`, { method: 'HEAD' });
      expect(reply.status).toBe(200);
      expect(reply.body).toBe('');
      expect(reply.headers['content-length']).toBe('1234');
      expect(reply.headers['transfer-encoding']).toBeUndefined();
    }
  });

  it('passes 204 and 304 on without a body, a length or chunked encoding', async () => {
    handler = (req, res) => {
      res.statusCode = req.url === '/204' ? 204 : 304;
      res.setHeader('etag', '"v1"');
      res.end();
    };
    for (const filters of [[], [HDR], [rewrite()]]) {
      const s = await sidecar(filters);
      for (const status of [204, 304]) {
        const reply = await send(`${s.url}/${status}`);
        expect(reply.status).toBe(status);
        expect(reply.body).toBe('');
        expect(reply.headers.etag).toBe('"v1"');
        expect(reply.headers['content-length']).toBeUndefined();
        expect(reply.headers['transfer-encoding']).toBeUndefined();
      }
    }
  });

  it('sends a chunked request body on chunked (a GET too) and a sized one with its length', async () => {
    const seen: Array<{ te?: string; cl?: string; body: string }> = [];
    handler = (req, res) => {
      let body = '';
      req.on('data', (c: Buffer) => (body += c.toString()));
      req.on('end', () => {
        seen.push({ te: req.headers['transfer-encoding'], cl: req.headers['content-length'], body });
        res.end('ok');
      });
    };
    const s = await sidecar([HDR]);
    const chunked = (method: string) =>
      new Promise<void>((resolve, reject) => {
        const req = request(`${s.url}/up`, { method }, (res) => {
          res.resume();
          res.on('end', resolve);
        });
        req.on('error', reject);
        req.setHeader('transfer-encoding', 'chunked');
        req.write('a');
        req.end('b');
      });
    await chunked('POST');
    await chunked('GET');
    await send(`${s.url}/up`, { method: 'PUT', headers: { 'content-length': '3' } }, Buffer.from('abc'));
    expect(seen).toEqual([
      { te: 'chunked', cl: undefined, body: 'ab' },
      { te: 'chunked', cl: undefined, body: 'ab' },
      { te: undefined, cl: '3', body: 'abc' },
    ]);
  });
});

describe('streaming', () => {
  /**
   * The upstream sends headers, then each chunk only once the client has received the one before:
   * a sidecar that held a chunk back until the next one arrived would never deliver anything.
   */
  it('delivers headers before the body and each chunk before the next is sent (lockstep)', async () => {
    let next: (() => void) | undefined;
    handler = (_req, res) => {
      res.setHeader('content-type', 'text/event-stream');
      res.flushHeaders();
      let i = 0;
      next = () => {
        if (i < 3) res.write(`data: ${i++}\n\n`);
        else res.end();
      };
    };
    for (const filters of [[HDR], [headersOnly()], [HDR, headersOnly()]]) {
      const s = await sidecar(filters);
      const received = await new Promise<string[]>((resolve, reject) => {
        const chunks: string[] = [];
        request(`${s.url}/events`, (res) => {
          // The headers came without any body: now ask for the first chunk.
          next!();
          res.on('data', (c: Buffer) => {
            chunks.push(c.toString());
            next!();
          });
          res.on('end', () => resolve(chunks));
        })
          .on('error', reject)
          .end();
      });
      expect(received.join('')).toBe('data: 0\n\ndata: 1\n\ndata: 2\n\n');
    }
  });

  /**
   * Arrival times of spaced chunks through the header filter against the plain sidecar in the same run.
   * The margin is half an interval: holding a chunk back for the next one costs a whole interval.
   */
  it('forwards each chunk as it arrives: arrival times match the plain sidecar', async () => {
    const INTERVAL = 300;
    const CHUNKS = 4;
    handler = (_req, res) => {
      let i = 0;
      const tick = (): void => {
        if (i === 0) res.setHeader('content-type', 'application/octet-stream');
        res.write(`chunk ${i}\n`);
        if (++i < CHUNKS) setTimeout(tick, INTERVAL);
        else res.end();
      };
      setTimeout(tick, INTERVAL);
    };
    const arrivals = (url: string) =>
      new Promise<number[]>((resolve, reject) => {
        const start = performance.now();
        const times: number[] = [];
        let seen = '';
        request(url, (res) => {
          res.on('data', (c: Buffer) => {
            seen += c.toString();
            // One time per chunk, even if two arrive in one read.
            while (times.length < (seen.match(/\n/g) ?? []).length) times.push(performance.now() - start);
          });
          res.on('end', () => resolve(times));
        })
          .on('error', reject)
          .end();
      });
    const plain = await sidecar([]);
    const filtered = await sidecar([HDR]);
    const rewriting = await sidecar([rewrite(), HDR]); // HDR sees chunks first: rewrite buffers after it
    const [base, through] = await Promise.all([arrivals(`${plain.url}/s`), arrivals(`${filtered.url}/s`)]);
    expect(base).toHaveLength(CHUNKS);
    expect(through).toHaveLength(CHUNKS);
    for (let i = 0; i < CHUNKS; i++) expect(Math.abs(through[i]! - base[i]!)).toBeLessThan(INTERVAL / 2);
    // A filter that buffers to the end holds everything, as it asked to: one arrival, at the end.
    const buffered = await arrivals(`${rewriting.url}/s`);
    expect(buffered).toHaveLength(1);
  });
});
