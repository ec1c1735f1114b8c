/**
 * End to end through `meshwasm run` (a real child process) with real upstreams over real HTTP.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HEADER_FILTER_WASM } from '../support/global-setup.js';
import { watFixture } from '../fixtures/wasm/index.js';
import { writeFile, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runSidecar, startUpstream, type RunningSidecar, type Upstream } from './helpers.js';

let dir: string;
let upstream: Upstream;
let auth: Upstream;
const sidecars: RunningSidecar[] = [];

async function wasmFile(name: string): Promise<string> {
  const file = join(dir, `${name}.wasm`);
  await writeFile(file, await watFixture(name));
  return file;
}

async function sidecar(args: string[]): Promise<RunningSidecar> {
  const s = await runSidecar(['--upstream', upstream.url, ...args]);
  sidecars.push(s);
  return s;
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'meshwasm-run-'));
  upstream = await startUpstream();
  auth = await startUpstream((req, res) => {
    if (req.url.startsWith('/forbidden')) {
      res.statusCode = 403;
      res.end();
      return;
    }
    res.setHeader('x-auth-user', 'alice');
    res.end(`checked ${req.url}`);
  });
});

afterAll(async () => {
  await Promise.all(sidecars.map((s) => s.stop()));
  await upstream.close();
  await auth.close();
  await rm(dir, { recursive: true, force: true });
});

describe('meshwasm run with the seed header filter', () => {
  it('adds the configured header (the seed filter.yaml parameters)', async () => {
    const s = await sidecar([
      '--filter',
      HEADER_FILTER_WASM,
      '--root-id',
      'my_root_id',
      '--config',
      '{"name":"hello","value":"hello details"}',
    ]);
    const res = await fetch(`${s.url}/details/123`);
    expect(res.status).toBe(200);
    expect(res.headers.get('hello')).toBe('hello details');
    expect(await res.text()).toBe('upstream saw GET /details/123 body=');
  });

  it('adds resp-header-demo: added by our filter with no configuration, reading config from @file too', async () => {
    const s = await sidecar(['--filter', HEADER_FILTER_WASM]);
    const res = await fetch(`${s.url}/details/123`);
    expect(res.headers.get('resp-header-demo')).toBe('added by our filter');

    const cfg = join(dir, 'cfg.json');
    await writeFile(cfg, '{"name":"x-from-file","value":"yes"}');
    const s2 = await sidecar(['--filter', HEADER_FILTER_WASM, '--config', `@${cfg}`]);
    expect((await fetch(s2.url)).headers.get('x-from-file')).toBe('yes');
  });

  it('logs each request with method, path, status and filter decisions, and stops cleanly on SIGTERM', async () => {
    const s = await runSidecar(['--upstream', upstream.url, '--filter', HEADER_FILTER_WASM]);
    await (await fetch(`${s.url}/logged?q=1`)).text();
    expect(await s.stop()).toBe(0);
    const line = s.logs().find((l) => l.msg === 'request');
    expect(line).toMatchObject({
      method: 'GET',
      path: '/logged?q=1',
      status: 200,
      filters: { 'header-filter': 'continue' },
    });
    expect(s.logs().some((l) => l.msg === 'sidecar stopped')).toBe(true);
  });
});

describe('meshwasm run with a chain of test filters', () => {
  let chain: RunningSidecar;
  beforeAll(async () => {
    chain = await sidecar([
      '--filter',
      await wasmFile('headers'),
      '--filter',
      await wasmFile('body'),
      '--filter',
      await wasmFile('httpcall'),
      '--cluster',
      `auth=${auth.url}`,
    ]);
  });

  it('a local response short-circuits the upstream', async () => {
    const before = upstream.requests.length;
    const res = await fetch(`${chain.url}/deny`);
    expect(res.status).toBe(403);
    expect(res.headers.get('x-denied')).toBe('yes');
    // As in Envoy, the local reply is encoded through the chain: the body filter upper-cases it too.
    expect(await res.text()).toBe('DENIED');
    expect(upstream.requests.length).toBe(before);
    const line = await chain.waitForLog((l) => l.msg === 'request' && l.path === '/deny');
    expect(line).toMatchObject({ status: 403, filters: { headers: 'local 403' } });
  });

  it('rewrites request and response bodies', async () => {
    const res = await fetch(`${chain.url}/echo`, { method: 'POST', body: 'payload' });
    expect(res.status).toBe(200);
    expect(await res.text()).toBe('UPSTREAM SAW POST /ECHO BODY=PRE-PAYLOAD-POST');
    const seen = upstream.requests.at(-1)!;
    expect(seen.body).toBe('pre-payload-post');
    expect(seen.headers['content-length']).toBe(String('pre-payload-post'.length));
    expect(seen.headers['x-added']).toBe('1');
  });

  it('makes an http call to a second upstream and uses its answer', async () => {
    const res = await fetch(`${chain.url}/orders/9`);
    expect(res.status).toBe(200);
    const seen = upstream.requests.at(-1)!;
    expect(seen.url).toBe('/orders/9');
    expect(seen.headers['x-auth-user']).toBe('alice');
    expect(seen.headers['x-auth-body']).toBe('checked /orders/9');
    expect(auth.requests.at(-1)!.url).toBe('/orders/9');
    const line = await chain.waitForLog((l) => l.msg === 'request' && l.path === '/orders/9');
    expect(line.filters).toEqual({
      headers: 'continue',
      body: 'continue',
      httpcall: 'request paused, continued',
    });

    const denied = await fetch(`${chain.url}/forbidden/1`);
    expect(denied.status).toBe(401);
    expect(await denied.text()).toBe('UNAUTHORIZED'); // the local reply went through the body filter too
  });
});

describe('failure policy', () => {
  it('fail-open: a trapping filter is skipped for that stream, later streams use a fresh VM', async () => {
    const s = await sidecar(['--filter', await wasmFile('trap')]);
    const trapped = await fetch(`${s.url}/trap`);
    expect(trapped.status).toBe(200);
    expect(trapped.headers.get('x-trap-filter')).toBeNull();
    expect(await trapped.text()).toBe('upstream saw GET /trap body=');
    const fine = await fetch(`${s.url}/fine`);
    expect(fine.headers.get('x-trap-filter')).toBe('ok');
    const failure = await s.waitForLog((l) => l.msg === 'filter failed on this stream');
    expect(failure).toMatchObject({ filter: 'trap', policy: 'fail-open' });
    expect(String(failure!.err)).toContain('filter "trap": trap in proxy_on_request_headers');
  });

  it('fail-closed: a trapping filter answers 503 naming the filter; the process keeps serving', async () => {
    const s = await sidecar(['--filter', await wasmFile('trap'), '--fail-closed']);
    const trapped = await fetch(`${s.url}/trap`);
    expect(trapped.status).toBe(503);
    expect(await trapped.text()).toContain('filter "trap" failed (fail-closed)');
    const fine = await fetch(`${s.url}/fine`);
    expect(fine.status).toBe(200);
    expect(fine.headers.get('x-trap-filter')).toBe('ok');
  });

  it('a filter that fails to load: fail-open passes requests through, fail-closed answers 503', async () => {
    const bad = await wasmFile('unknown-import');
    const open = await sidecar(['--filter', bad]);
    const passed = await fetch(`${open.url}/x`);
    expect(passed.status).toBe(200);
    const loadError = await open.waitForLog((l) => String(l.msg).startsWith('filter failed to load'));
    expect(String(loadError?.err)).toContain('imports env.proxy_teleport');

    const closed = await sidecar(['--filter', bad, '--fail-closed']);
    const refused = await fetch(`${closed.url}/x`);
    expect(refused.status).toBe(503);
    expect(await refused.text()).toContain('filter "unknown-import" failed (fail-closed)');
  });

  it('a file that is not Wasm is reported with the filter name', async () => {
    const notWasm = join(dir, 'notes.wasm');
    await writeFile(notWasm, 'just text');
    const s = await sidecar(['--filter', notWasm, '--fail-closed']);
    const res = await fetch(s.url);
    expect(res.status).toBe(503);
    expect(await res.text()).toContain('not a WebAssembly module');
  });
});

describe('a filter that never returns (--filter-timeout)', () => {
  it('serves normal requests, then kills the process with a log line naming the filter and callback', async () => {
    const s = await sidecar(['--filter', await wasmFile('loop'), '--filter-timeout', '1s']);
    const exit = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
      s.process.once('exit', (code, signal) => resolve({ code, signal })),
    );
    const fine = await fetch(`${s.url}/fine`);
    expect(fine.status).toBe(200);
    expect(await fine.text()).toBe('upstream saw GET /fine body=');
    // The stuck request never gets an answer: the connection dies with the process.
    const stuck = await fetch(`${s.url}/loop`).then(
      (res) => `answered ${res.status}`,
      () => 'connection closed',
    );
    expect(stuck).toBe('connection closed');
    expect(await exit).toEqual({ code: null, signal: 'SIGKILL' });
    const fatal = s
      .stderr()
      .split('\n')
      .filter((l) => l.startsWith('{'))
      .map((l) => JSON.parse(l) as { level: number; msg: string })
      .find((l) => l.level === 60);
    expect(fatal?.msg).toMatch(
      /^filter "loop": proxy_on_request_headers has not returned after \d+ ms \(--filter-timeout 1000 ms\)/,
    );
  });

  it('rejects a --filter-timeout that is not a duration', async () => {
    const err = await runSidecar(['--upstream', 'http://127.0.0.1:9', '--filter-timeout', 'soon']).catch(
      (e: Error) => e,
    );
    expect((err as Error).message).toContain('--filter-timeout: "soon" is not a duration');
  });
});

describe('usage errors', () => {
  it('rejects per-filter flags that do not match the filters', async () => {
    const err = await runSidecar([
      '--upstream',
      'http://127.0.0.1:9',
      '--filter',
      HEADER_FILTER_WASM,
      '--config',
      '{}',
      '--config',
      '{}',
    ]).catch((e: Error) => e);
    expect((err as Error).message).toContain('--config is given 2 times for 1 filters');
  });

  it('rejects a malformed --cluster with a hint', async () => {
    const err = await runSidecar(['--upstream', 'http://127.0.0.1:9', '--cluster', 'nourl']).catch(
      (e: Error) => e,
    );
    expect(err).toBeInstanceOf(Error);
    expect((err as Error).message).toContain('--cluster "nourl" is not NAME=URL');
  });
});
