/**
 * The agent against the real registry with real modules, in-process (startAgent is what the CLI runs):
 * cold sync of every format, warm restart without downloads, references added and removed while
 * running, garbage collection after the grace period and not before.
 */
import { readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { OciSession, pushWasm } from '../../src/oci/index.js';
import { startFaultProxy, type FaultProxy } from '../support/fault-proxy.js';
import { startRegistry, type TestRegistry } from '../support/registry.js';
import { moduleWithCustomSection } from '../support/wasm-fixtures.js';
import {
  eventually,
  getJson,
  HEADER_FILTER,
  metricValue,
  pushModule,
  runAgent,
  tempDir,
  type Pushed,
  useProxiedRegistry,
} from './helpers.js';

let registry: TestRegistry;
let proxy: FaultProxy;
let session: OciSession;

const fixture = useProxiedRegistry();

beforeAll(() => {
  ({ registry, proxy, session } = fixture);
});

const blobGets = () => proxy.count('GET', /\/blobs\/sha256:/);
const viaProxy = (p: Pushed) => fixture.viaProxy(p);
const wasmFiles = (dir: string) =>
  readdirSync(dir)
    .filter((n) => n.endsWith('.wasm'))
    .sort();

describe('agent sync against the real registry', () => {
  it('cold-syncs references of all four formats, then restarts warm without downloading anything', async () => {
    const header = readFileSync(HEADER_FILTER);
    const pushed = [
      await pushModule(session, registry.host, 'sync/artifact', 'v1', header, 'artifact'),
      await pushModule(
        session,
        registry.host,
        'sync/compat',
        'v1',
        moduleWithCustomSection(300_000, 'compat'),
        'compat',
      ),
      await pushModule(
        session,
        registry.host,
        'sync/wasme',
        'v1',
        moduleWithCustomSection(5000, 'wasme'),
        'wasme',
      ),
      await pushModule(
        session,
        registry.host,
        'sync/docker',
        'v1',
        moduleWithCustomSection(7000, 'docker'),
        'docker',
      ),
    ];
    // The same digest named twice (pinned and by tag) is one file and one download.
    const images = [...pushed.map(viaProxy), pushed[0]!.tagged.replace(registry.host, proxy.host)];
    const dir = join(tempDir(), 'wasm-filters');
    const imagesFile = join(tempDir(), 'images');
    writeFileSync(imagesFile, `# wanted\n${images.join('\n')}\n`);

    const before = blobGets();
    const headsBefore = proxy.count('HEAD', /\/manifests\//);
    const agent = await runAgent({ dir, imagesFile });
    try {
      await agent.running.agent.whenReady();
      expect(wasmFiles(dir)).toEqual(pushed.map((p) => `${p.hex}.wasm`).sort());
      for (const p of pushed) {
        const file = join(dir, `${p.hex}.wasm`);
        expect(readFileSync(file).equals(p.module)).toBe(true);
        expect(statSync(file).mode & 0o777).toBe(0o644);
      }
      expect(readdirSync(dir).filter((n) => n.startsWith('.'))).toEqual([]);
      const metrics = (await getJson(agent.running.port, '/metrics')).text;
      expect(metricValue(metrics, 'meshwasm_agent_modules_present')).toBe(4);
      expect(metricValue(metrics, 'meshwasm_agent_pulls_total{result="success"}')).toBe(4);
      expect(metricValue(metrics, 'meshwasm_agent_pulled_bytes_total')).toBeGreaterThan(300_000);
      expect(metricValue(metrics, 'meshwasm_agent_last_sync_timestamp_seconds')).toBeGreaterThan(0);
      expect((await getJson(agent.running.port, '/readyz')).status).toBe(200);
      expect((await getJson(agent.running.port, '/healthz')).status).toBe(200);
      expect(
        agent.logs
          .filter((l) => l.msg === 'module pulled')
          .map((l) => l.format)
          .sort(),
      ).toEqual(['artifact', 'docker', 'oci-compat', 'wasme']);
    } finally {
      await agent.stop();
    }
    const coldGets = blobGets() - before;
    expect(coldGets).toBeGreaterThanOrEqual(4);
    // Pinned references read their manifest with one GET; only the tag needed a HEAD to resolve.
    expect(proxy.count('HEAD', /\/manifests\//) - headsBefore).toBe(1);

    const warmStart = blobGets();
    const warm = await runAgent({ dir, imagesFile });
    try {
      await warm.running.agent.whenReady();
      expect(warm.logs.find((l) => l.msg === 'module directory opened')).toMatchObject({
        verified: 4,
        removed: 0,
      });
      expect(warm.logs.filter((l) => l.msg === 'module pulled')).toEqual([]);
      expect(blobGets() - warmStart).toBe(0);
      const metrics = (await getJson(warm.running.port, '/metrics')).text;
      expect(metricValue(metrics, 'meshwasm_agent_pulled_bytes_total')).toBe(0);
    } finally {
      await warm.stop();
    }
  });

  it('follows references added and removed while running; removes only after the grace period', async () => {
    const a = await pushModule(
      session,
      registry.host,
      'live/a',
      'v1',
      moduleWithCustomSection(4000, 'live-a'),
    );
    const b = await pushModule(
      session,
      registry.host,
      'live/b',
      'v1',
      moduleWithCustomSection(4000, 'live-b'),
    );
    const dir = tempDir();
    const imagesFile = join(tempDir(), 'images');
    writeFileSync(imagesFile, `${viaProxy(a)}\n`);
    const graceMs = 1500;
    const agent = await runAgent({ dir, imagesFile, gcGraceMs: graceMs });
    try {
      await agent.running.agent.whenReady();
      expect(wasmFiles(dir)).toEqual([`${a.hex}.wasm`]);

      writeFileSync(imagesFile, `${viaProxy(a)}\n${viaProxy(b)}\n`);
      await eventually(() => expect(wasmFiles(dir)).toEqual([`${a.hex}.wasm`, `${b.hex}.wasm`].sort()));

      writeFileSync(imagesFile, `${viaProxy(b)}\n`);
      const removedAt = Date.now();
      await eventually(() =>
        expect(agent.logs.some((l) => l.msg === 'wanted set updated' && l.references === 1)).toBe(true),
      );
      // Still there right after it stopped being wanted: a sidecar may still load it.
      expect(wasmFiles(dir)).toContain(`${a.hex}.wasm`);
      await eventually(() => expect(wasmFiles(dir)).toEqual([`${b.hex}.wasm`]));
      expect(Date.now() - removedAt).toBeGreaterThanOrEqual(graceMs);
      // the module goes first, its record right after
      await eventually(() => expect(readdirSync(dir).sort()).toEqual([`${b.hex}.json`, `${b.hex}.wasm`]));
      const removal = agent.logs.find((l) => l.msg.startsWith('module removed'));
      expect(removal?.digest).toBe(a.digest);

      // Wanted again within the grace period: never removed.
      writeFileSync(imagesFile, `${viaProxy(a)}\n`);
      await eventually(() => expect(wasmFiles(dir)).toContain(`${a.hex}.wasm`));
      writeFileSync(imagesFile, `${viaProxy(a)}\n${viaProxy(b)}\n`);
      await eventually(() =>
        expect(agent.logs.filter((l) => l.msg === 'wanted set updated').at(-1)?.references).toBe(2),
      );
      await new Promise((r) => setTimeout(r, graceMs + 300));
      expect(wasmFiles(dir)).toEqual([`${a.hex}.wasm`, `${b.hex}.wasm`].sort());
    } finally {
      await agent.stop();
    }
  });

  it('pulls again, at the periodic resync, a module deleted behind its back', async () => {
    const a = await pushModule(
      session,
      registry.host,
      'resync/a',
      'v1',
      moduleWithCustomSection(3000, 'resync-a'),
    );
    const dir = tempDir();
    const imagesFile = join(tempDir(), 'images');
    writeFileSync(imagesFile, `${viaProxy(a)}\n`);
    const agent = await runAgent({ dir, imagesFile, resyncMs: 0 });
    try {
      await agent.running.agent.whenReady();
      rmSync(join(dir, `${a.hex}.wasm`));
      await agent.running.agent.resync();
      await eventually(() => expect(readFileSync(join(dir, `${a.hex}.wasm`)).equals(a.module)).toBe(true));
      expect(
        agent.logs.some((l) => l.msg.startsWith('module changed on disk') && l.reason === 'file deleted'),
      ).toBe(true);
    } finally {
      await agent.stop();
    }
  });

  it('pulls over TLS with token auth given --ca-file and a registry config, and explains an untrusted certificate', async () => {
    const secure = await startRegistry({
      auth: 'token',
      tls: true,
      username: 'agent',
      password: 'tls-Pa55word',
    });
    try {
      const pusher = new OciSession({
        caFile: secure.caFile,
        credentials: { get: async () => ({ username: 'agent', password: 'tls-Pa55word' }) },
      });
      const { target } = await pusher.open(`${secure.host}/tls/filter:v1`);
      const file = join(tempDir(), 'filter.wasm');
      writeFileSync(file, moduleWithCustomSection(2000, 'tls'));
      const pushed = await pushWasm(target, 'v1', file);
      await pusher.close();
      const pinned = `${secure.host}/tls/filter@${pushed.descriptor.digest}`;
      const imagesFile = join(tempDir(), 'images');
      writeFileSync(imagesFile, `${pinned}\n`);
      const registryConfig = join(tempDir(), 'config.json');
      writeFileSync(
        registryConfig,
        JSON.stringify({ auths: { [secure.host]: { username: 'agent', password: 'tls-Pa55word' } } }),
      );

      const untrusted = await runAgent({ dir: tempDir(), imagesFile, registryConfig, plainHttp: false });
      try {
        await untrusted.running.agent.whenReady();
        const failure = untrusted.logs.find((l) => l.msg === 'module pull failed');
        expect(failure?.code).toBe('NETWORK');
        expect(String(failure?.err)).toContain('--ca-file');
      } finally {
        await untrusted.stop();
      }

      const dir = tempDir();
      const agent = await runAgent({
        dir,
        imagesFile,
        registryConfig,
        plainHttp: false,
        caFile: secure.caFile,
      });
      try {
        await agent.running.agent.whenReady();
        expect(readFileSync(join(dir, `${pushed.descriptor.digest.slice(7)}.wasm`)).length).toBeGreaterThan(
          2000,
        );
        expect(agent.text()).not.toContain('tls-Pa55word');
      } finally {
        await agent.stop();
      }
    } finally {
      await secure.destroy();
    }
  });

  it('downloads at most --concurrency modules at once, and keeps that many going', async () => {
    const modules: Pushed[] = [];
    for (let i = 0; i < 6; i++)
      modules.push(
        await pushModule(
          session,
          registry.host,
          `bound/m${i}`,
          'v1',
          moduleWithCustomSection(512 * 1024, `b${i}`),
        ),
      );
    // A proxy of its own, so the peak counts only this agent's downloads; throttled (each blob takes about
    // half a second) so that downloads started together overlap even on a loaded machine.
    const counting = await startFaultProxy({ upstream: registry.url });
    counting.throttleBlobs(1024 * 1024);
    const imagesFile = join(tempDir(), 'images');
    writeFileSync(
      imagesFile,
      modules.map((m) => `${m.pinned.replace(registry.host, counting.host)}\n`).join(''),
    );
    const dir = tempDir();
    const agent = await runAgent({ dir, imagesFile, concurrency: 2 });
    try {
      await agent.running.agent.whenReady();
      expect(wasmFiles(dir)).toEqual(modules.map((m) => `${m.hex}.wasm`).sort());
      expect(counting.count('GET', /\/blobs\/sha256:/)).toBe(6);
      expect(counting.maxBlobsInFlight).toBe(2);
    } finally {
      await agent.stop();
      await counting.stop();
    }
  });

  it('is not ready until the first sync has finished', async () => {
    const slow = await pushModule(
      session,
      registry.host,
      'ready/slow',
      'v1',
      moduleWithCustomSection(2 * 1024 * 1024, 'slow'),
    );
    const imagesFile = join(tempDir(), 'images');
    writeFileSync(imagesFile, `${viaProxy(slow)}\n`);
    proxy.throttleBlobs(128 * 1024);
    const agent = await runAgent({ dir: tempDir(), imagesFile });
    try {
      await eventually(async () => {
        const ready = await getJson(agent.running.port, '/readyz');
        expect(ready.status).toBe(503);
        expect(ready.body).toMatchObject({
          ready: false,
          references: [{ reference: viaProxy(slow), state: 'pulling' }],
        });
      });
      expect((await getJson(agent.running.port, '/healthz')).status).toBe(200);
      proxy.throttleBlobs(undefined);
      await agent.running.agent.whenReady();
      expect((await getJson(agent.running.port, '/readyz')).status).toBe(200);
    } finally {
      proxy.throttleBlobs(undefined);
      await agent.stop();
    }
  });

  it('reports an invalid reference and keeps syncing the valid ones', async () => {
    const a = await pushModule(
      session,
      registry.host,
      'invalid/a',
      'v1',
      moduleWithCustomSection(100, 'inv-a'),
    );
    const dir = tempDir();
    const imagesFile = join(tempDir(), 'images');
    writeFileSync(imagesFile, `Not A Reference\n${viaProxy(a)}\n`);
    const agent = await runAgent({ dir, imagesFile });
    try {
      await agent.running.agent.whenReady();
      expect(wasmFiles(dir)).toEqual([`${a.hex}.wasm`]);
      const error = agent.logs.find((l) => l.msg.startsWith('invalid reference'));
      expect(error?.reference).toBe('Not A Reference');
      const ready = await getJson(agent.running.port, '/readyz');
      expect(ready.body).toMatchObject({
        ready: true,
        references: expect.arrayContaining([
          expect.objectContaining({ reference: 'Not A Reference', state: 'invalid' }),
        ]),
      });
    } finally {
      await agent.stop();
    }
  });
});
