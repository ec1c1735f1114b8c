/** The sidecar as a library (startSidecar), with real upstreams over real HTTP. */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { request } from 'node:http';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createLogger } from '../../src/log.js';
import { parse } from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { renderEnvoyFilter, validateFilterDeployment } from '../../src/mesh/index.js';
import { startSidecar, type Sidecar } from '../../src/sidecar/index.js';
import { HEADER_FILTER_WASM } from '../support/global-setup.js';
import { watFixture } from '../fixtures/wasm/index.js';
import { startUpstream, type Upstream } from './helpers.js';
import { readFile } from 'node:fs/promises';

const quiet = createLogger('test', 'silent');
let upstream: Upstream;
const open: Sidecar[] = [];

async function sidecar(options: Partial<Parameters<typeof startSidecar>[0]>): Promise<Sidecar> {
  const s = await startSidecar({ upstream: upstream.url, logger: quiet, ...options });
  open.push(s);
  return s;
}

beforeAll(async () => {
  upstream = await startUpstream((req, res) => {
    if (req.url === '/big') {
      // A chunked response in several writes, to exercise streaming through the filter.
      res.setHeader('content-type', 'application/octet-stream');
      for (let i = 0; i < 64; i++) res.write(Buffer.alloc(16 * 1024, i));
      res.end();
      return;
    }
    if (req.url === '/empty') {
      res.statusCode = 204;
      res.end();
      return;
    }
    res.end(`len=${req.body.length}`);
  });
});

afterAll(async () => {
  await Promise.all(open.map((s) => s.close()));
  await upstream.close();
});

describe('startSidecar', () => {
  it('streams a large chunked response through the header filter unchanged', async () => {
    const s = await sidecar({ filters: [{ name: 'hdr', file: HEADER_FILTER_WASM }] });
    const res = await fetch(`${s.url}/big`);
    expect(res.headers.get('resp-header-demo')).toBe('added by our filter');
    const body = new Uint8Array(await res.arrayBuffer());
    expect(body.length).toBe(64 * 16 * 1024);
    for (let i = 0; i < 64; i++) expect(body[i * 16 * 1024]).toBe(i);
  });

  it('answers expect: 100-continue itself and does not pass it on, as Envoy does', async () => {
    const s = await sidecar({ filters: [{ name: 'hdr', file: HEADER_FILTER_WASM }] });
    const socket = connect(s.port, '127.0.0.1');
    let text = '';
    socket.on('data', (c: Buffer) => (text += c.toString('latin1')));
    socket.write('POST /continue HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 4\r\n\r\n');
    while (!text.includes('\r\n\r\n')) await new Promise((r) => setTimeout(r, 10));
    expect(text).toBe('HTTP/1.1 100 Continue\r\n\r\n'); // before any byte of the body was sent
    socket.write('abcd');
    while (!text.endsWith('len=4')) await new Promise((r) => setTimeout(r, 10));
    socket.destroy();
    const seen = upstream.requests.find((r) => r.url === '/continue')!;
    expect(seen.body).toBe('abcd');
    expect(seen.headers.expect).toBeUndefined();
  });

  it('serves the next request on a keep-alive connection after a large upload', async () => {
    const s = await sidecar({ filters: [{ name: 'hdr', file: HEADER_FILTER_WASM }] });
    const socket = connect(s.port, '127.0.0.1');
    let text = '';
    socket.on('data', (c: Buffer) => (text += c.toString('latin1')));
    const body = Buffer.alloc(4 * 1024 * 1024, 0x62);
    socket.write(`POST /first HTTP/1.1\r\nHost: x\r\nContent-Length: ${body.length}\r\n\r\n`);
    socket.write(body);
    const until = async (done: () => boolean) => {
      for (let i = 0; i < 500 && !done() && !socket.destroyed; i++)
        await new Promise((r) => setTimeout(r, 10));
      expect(done(), `got ${JSON.stringify(text.slice(-300))}`).toBe(true);
    };
    await until(() => text.includes(`len=${body.length}`));
    socket.write('GET /second HTTP/1.1\r\nHost: x\r\n\r\n');
    await until(() => text.endsWith('len=0'));
    socket.destroy();
    expect(text.match(/HTTP\/1\.1 200 OK/g)).toHaveLength(2);
    expect(upstream.requests.filter((r) => r.url === '/second')).toHaveLength(1);
  });

  it('forwards a large request body (content-length kept exact)', async () => {
    const s = await sidecar({ filters: [{ name: 'hdr', file: HEADER_FILTER_WASM }] });
    const payload = Buffer.alloc(300_000, 7);
    const res = await fetch(`${s.url}/upload`, { method: 'PUT', body: payload });
    expect(await res.text()).toBe(`len=${payload.length}`);
  });

  it('handles responses without a body (204) and HEAD', async () => {
    const s = await sidecar({ filters: [{ name: 'hdr', file: HEADER_FILTER_WASM }] });
    const empty = await fetch(`${s.url}/empty`);
    expect(empty.status).toBe(204);
    expect(empty.headers.get('resp-header-demo')).toBe('added by our filter');
    const head = await fetch(`${s.url}/x`, { method: 'HEAD' });
    expect(head.status).toBe(200);
  });

  it('is a plain proxy without filters, and answers 502 when the upstream is down', async () => {
    const plain = await sidecar({});
    expect(await (await fetch(`${plain.url}/p`)).text()).toBe('len=0');
    const down = await startSidecar({ upstream: 'http://127.0.0.1:9', logger: quiet });
    open.push(down);
    const res = await fetch(down.url);
    expect(res.status).toBe(502);
    expect(await res.text()).toContain('upstream connect error');
  });

  it('exposes filter metrics from outside, and logs them at shutdown', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'meshwasm-sidecar-'));
    try {
      const file = join(dir, 'root.wasm');
      await writeFile(file, await watFixture('root'));
      const lines: Array<Record<string, unknown>> = [];
      const logger = createLogger('test', 'info', {
        write: (l: string) => lines.push(JSON.parse(l) as Record<string, unknown>),
      });
      const s = await sidecar({ filters: [{ name: 'metered', file }], logger });
      await (await fetch(`${s.url}/a`)).text();
      await (await fetch(`${s.url}/b`)).text();
      const metrics = s.metrics().metered!;
      expect(metrics.find((m) => m.name === 'requests_total')?.value).toBe(2n);
      await s.close();
      const summary = lines.find((l) => l.msg === 'filter metrics');
      expect(summary).toMatchObject({ filter: 'metered', metrics: { requests_total: '2', in_flight: '42' } });
      expect(summary!.metrics).toMatchObject({ body_sizes: { count: 4, sum: '24' } });
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('keeps every request on the configured upstream, whatever the path looks like', async () => {
    const s = await sidecar({});
    const status = await new Promise<number>((resolve, reject) => {
      request(`${s.url}`, { path: '//127.0.0.1:9/elsewhere' }, (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
      })
        .on('error', reject)
        .end();
    });
    expect(status).toBe(200);
    expect(upstream.requests.at(-1)!.url).toBe('//127.0.0.1:9/elsewhere');
  });

  it('refuses a bad upstream URL with a usage error', async () => {
    await expect(startSidecar({ upstream: 'not a url', logger: quiet })).rejects.toThrow(
      'upstream "not a url" is not a URL',
    );
  });

  it('waits for in-flight requests when closing', async () => {
    const slowUpstream = await startUpstream((_req, res) => setTimeout(() => res.end('slow'), 300));
    try {
      const s = await startSidecar({ upstream: slowUpstream.url, logger: quiet });
      const pending = new Promise<string>((resolve, reject) => {
        request(`${s.url}/slow`, (res) => {
          let text = '';
          res.on('data', (c: Buffer) => (text += c.toString()));
          res.on('end', () => resolve(text));
        })
          .on('error', reject)
          .end();
      });
      await new Promise((r) => setTimeout(r, 100));
      await s.close();
      expect(await pending).toBe('slow');
    } finally {
      await slowUpstream.close();
    }
  });
});

describe('the chain on real HTTP messages', () => {
  async function fixtureSidecar(name: string): Promise<Sidecar> {
    const dir = await mkdtemp(join(tmpdir(), 'meshwasm-fx-'));
    const file = join(dir, `${name}.wasm`);
    await writeFile(file, await watFixture(name));
    return sidecar({ filters: [{ name, file }] });
  }

  function raw(url: string, options: { method?: string; path: string; chunks?: string[] }) {
    return new Promise<{ status: number; body: string; trailers: Record<string, string | undefined> }>(
      (resolve, reject) => {
        const req = request(`${url}${options.path}`, { method: options.method ?? 'GET' }, (res) => {
          let body = '';
          res.on('data', (c: Buffer) => (body += c.toString()));
          res.on('end', () => resolve({ status: res.statusCode ?? 0, body, trailers: res.trailers }));
          res.on('error', reject);
        });
        req.on('error', reject);
        for (const c of options.chunks ?? []) req.write(c);
        req.end();
      },
    );
  }

  it('buffers a chunked request body in the filter until the end, then forwards the rewritten body', async () => {
    const s = await fixtureSidecar('body');
    const res = await raw(s.url, { method: 'POST', path: '/chunks', chunks: ['one,', 'two,', 'three'] });
    expect(res.status).toBe(200);
    expect(upstream.requests.at(-1)!.body).toBe('pre-one,two,three-post');
    expect(res.body).toBe('LEN=22');
  });

  it('answers 413 when a filter buffers more request body than allowed, and keeps serving', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'meshwasm-fx-'));
    const file = join(dir, 'body.wasm');
    await writeFile(file, await watFixture('body'));
    const s = await sidecar({ filters: [{ name: 'body', file }], maxBufferedBodyBytes: 64 * 1024 });
    const before = upstream.requests.length;
    const chunk = 'x'.repeat(16 * 1024);
    const res = await raw(s.url, {
      method: 'POST',
      path: '/huge',
      chunks: Array.from({ length: 16 }, () => chunk),
    }).catch((err: Error) => err);
    // The sidecar answers before the client finished sending; either the 413 or a reset reaches it.
    if (!(res instanceof Error)) expect(res.status).toBe(413);
    expect(upstream.requests.filter((r) => r.url === '/huge')).toHaveLength(0);
    expect(upstream.requests.length).toBe(before);
    const small = await raw(s.url, { method: 'POST', path: '/small', chunks: ['ok'] });
    expect(small.body).toBe('LEN=11');
  });

  it('gives filters the connection and request attributes of the real stream', async () => {
    const s = await fixtureSidecar('properties');
    const res = await fetch(`${s.url}/props?x=1`, { method: 'PATCH' });
    expect(res.status).toBe(200);
    const seen = upstream.requests.at(-1)!;
    expect(seen.headers['x-prop-path']).toBe('/props?x=1');
    expect(seen.headers['x-method']).toBe('PATCH');
    expect(seen.headers['x-source']).toMatch(/^127\.0\.0\.1:\d+$/);
    expect(res.headers.get('x-code')).toBe('200');
  });

  it('passes response trailers through the filter, which can add to them', async () => {
    const trailing = await startUpstream((_req, res) => {
      res.setHeader('trailer', 'x-checksum');
      res.write('part');
      res.addTrailers({ 'x-checksum': 'abc' });
      res.end();
    });
    try {
      const dir = await mkdtemp(join(tmpdir(), 'meshwasm-fx-'));
      const file = join(dir, 'headers.wasm');
      await writeFile(file, await watFixture('headers'));
      const s = await sidecar({ upstream: trailing.url, filters: [{ name: 'headers', file }] });
      const res = await raw(s.url, { path: '/t' });
      expect(res.body).toBe('part');
      expect(res.trailers['x-checksum']).toBe('abc');
      expect(res.trailers['x-trailer']).toBe('t');
    } finally {
      await trailing.close();
    }
  });

  it('encodes a local reply through every filter of the chain, as Envoy does', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'meshwasm-fx-'));
    const file = join(dir, 'headers.wasm');
    await writeFile(file, await watFixture('headers'));
    const s = await sidecar({
      filters: [
        { name: 'headers', file },
        { name: 'hdr', file: HEADER_FILTER_WASM },
      ],
    });
    const before = upstream.requests.length;
    const res = await fetch(`${s.url}/deny`);
    expect(res.status).toBe(403);
    expect(await res.text()).toBe('denied');
    expect(res.headers.get('x-denied')).toBe('yes');
    expect(res.headers.get('content-type')).toBe('text/plain');
    expect(res.headers.get('resp-header-demo')).toBe('added by our filter');
    expect(res.headers.get('x-response-map-size')).not.toBeNull();
    expect(upstream.requests.length).toBe(before);
  });

  it('releases a stream paused on an http call when the client goes away', async () => {
    const hanging = await startUpstream(() => undefined); // never answers
    const lines: Array<Record<string, unknown>> = [];
    const logger = createLogger('test', 'info', {
      write: (l: string) => lines.push(JSON.parse(l) as Record<string, unknown>),
    });
    try {
      const dir = await mkdtemp(join(tmpdir(), 'meshwasm-fx-'));
      const file = join(dir, 'httpcall.wasm');
      await writeFile(file, await watFixture('httpcall'));
      const s = await startSidecar({
        upstream: upstream.url,
        logger,
        clusters: { auth: hanging.url },
        filters: [{ name: 'httpcall', file }],
      });
      open.push(s);
      await expect(fetch(`${s.url}/slow`, { signal: AbortSignal.timeout(200) })).rejects.toThrow();
      for (let i = 0; i < 100 && !lines.some((l) => l.msg === 'request'); i++)
        await new Promise((r) => setTimeout(r, 20));
      expect(lines.find((l) => l.msg === 'request')).toMatchObject({ path: '/slow', aborted: true });
      const next = await fetch(`${s.url}/unknown`); // does not call auth
      expect(next.status).toBe(200);
    } finally {
      await hanging.close();
    }
  });

  it('answers 502 naming the filters when one produced an invalid header, and keeps serving', async () => {
    const s = await fixtureSidecar('headers');
    const before = upstream.requests.length;
    const res = await fetch(`${s.url}/bad-header`);
    expect(res.status).toBe(502);
    expect(await res.text()).toMatch(/a filter produced an invalid HTTP message .*filters: headers/);
    expect(upstream.requests.length).toBe(before);
    expect((await fetch(`${s.url}/good`)).status).toBe(200);
  });

  it('answers 502 naming the filters when one set a response :status that is no status, and keeps serving', async () => {
    const s = await fixtureSidecar('headers');
    const res = await fetch(`${s.url}/bad-status`);
    expect(res.status).toBe(502);
    expect(await res.text()).toMatch(/a filter produced an invalid HTTP message .*filters: headers/);
    expect((await fetch(`${s.url}/good`)).status).toBe(200);
  });

  it('resets the client connection when a filter closes the stream', async () => {
    const s = await fixtureSidecar('headers');
    await expect(raw(s.url, { path: '/reset' })).rejects.toThrow(/socket hang up|ECONNRESET/);
    expect((await raw(s.url, { path: '/after' })).status).toBe(200);
  });
});

describe('filterFromEnvoyFilter', () => {
  it('runs the filter a rendered EnvoyFilter describes (the seed filter.yaml end to end)', async () => {
    const { filterFromEnvoyFilter } = await import('../../src/sidecar/index.js');
    const dir = await mkdtemp(join(tmpdir(), 'meshwasm-ef-'));
    try {
      const digest = `sha256:${'ab'.repeat(32)}`;
      await writeFile(join(dir, `${'ab'.repeat(32)}.wasm`), await readFile(HEADER_FILTER_WASM));
      const doc: unknown = parse(await readFile('examples/header-filter/filter.yaml', 'utf8'));
      const valid = validateFilterDeployment(doc);
      if (!valid.ok) throw new Error(JSON.stringify(valid.errors));
      const spec = filterFromEnvoyFilter(renderEnvoyFilter(valid.value, digest), dir);
      expect(spec).toMatchObject({
        name: 'details-v1-wasmfiltersample.default',
        rootId: 'my_root_id',
        configuration: '{"name":"hello","value":"hello details"}',
        file: join(dir, `${'ab'.repeat(32)}.wasm`),
      });
      const s = await sidecar({ filters: [spec] });
      const res = await fetch(`${s.url}/details/123`);
      expect(res.headers.get('hello')).toBe('hello details');
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('accepts the TypedStruct form and reports what is missing', async () => {
    const { filterFromEnvoyFilter } = await import('../../src/sidecar/index.js');
    const typedStruct = {
      metadata: { name: 'ef' },
      spec: {
        configPatches: [
          {
            patch: {
              value: {
                typed_config: {
                  '@type': 'type.googleapis.com/udpa.type.v1.TypedStruct',
                  type_url: 'type.googleapis.com/envoy.extensions.filters.http.wasm.v3.Wasm',
                  value: {
                    config: {
                      root_id: 'r',
                      configuration: {
                        '@type': 'type.googleapis.com/google.protobuf.StringValue',
                        value: '{}',
                      },
                      vm_config: { code: { local: { filename: '/var/local/lib/wasm-filters/x.wasm' } } },
                    },
                  },
                },
              },
            },
          },
        ],
      },
    };
    expect(filterFromEnvoyFilter(typedStruct)).toEqual({
      name: 'ef',
      file: '/var/local/lib/wasm-filters/x.wasm',
      failOpen: false,
      rootId: 'r',
      configuration: '{}',
    });
    expect(() => filterFromEnvoyFilter({ spec: { configPatches: [] } })).toThrow(/configPatches/);
    const noFile = structuredClone(typedStruct);
    noFile.spec.configPatches[0]!.patch.value.typed_config.value.config.vm_config.code.local.filename = '';
    expect(() => filterFromEnvoyFilter(noFile)).toThrow(/vm_config\.code\.local\.filename/);
  });
});
