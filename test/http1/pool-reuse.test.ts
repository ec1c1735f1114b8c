/**
 * The client's pooled connection reused after large bodies (its read buffer shrinks as it goes idle):
 * every later response on it reads whole. The buffer handling itself is unit-tested in
 * read-buffer.test.ts.
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { Http1Pool } from '../../src/http1/pool.js';
import type { Http1Response } from '../../src/http1/response.js';

const big = Buffer.alloc(4 * 1024 * 1024, 0x61);
const server = createServer((req, res) => {
  if (req.url === '/big') res.end(big);
  else res.end(`small ${req.url}`);
});
let port = 0;
beforeAll(async () => {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  port = (server.address() as AddressInfo).port;
});
afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

function get(pool: Http1Pool, path: string): Promise<{ status: number; body: Buffer }> {
  return new Promise((resolve, reject) => {
    const req = pool.request({ method: 'GET', path, headers: { host: 'x' } });
    req.on('error', reject);
    req.on('response', (res: Http1Response) => {
      const parts: Uint8Array[] = [];
      res.read({
        data: (c) => parts.push(c),
        end: () => resolve({ status: res.statusCode, body: Buffer.concat(parts) }),
        error: reject,
      });
    });
    req.end();
  });
}

it('reads the next response on a connection that went idle after large reads', async () => {
  const pool = new Http1Pool({ host: '127.0.0.1', port }, { socketBufferBytes: 1 << 20 });
  try {
    for (let i = 0; i < 5; i++) {
      const large = await get(pool, '/big');
      expect(large.body.equals(big)).toBe(true);
      const small = await get(pool, `/s${i}`);
      expect(small).toMatchObject({ status: 200 });
      expect(small.body.toString()).toBe(`small /s${i}`);
    }
    expect(pool.size).toBe(1); // every request went over the one connection
  } finally {
    pool.destroy();
  }
});
