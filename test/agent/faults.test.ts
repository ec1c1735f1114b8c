/**
 * Faults against the real registry: registry down then up, 503 and 429 storms, a corrupted and a
 * truncated blob (nothing written, error reported, the others continue), a full directory.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import type { ReferenceStatus } from '../../src/agent/agent.js';
import type { OciSession } from '../../src/oci/index.js';
import type { FaultProxy } from '../support/fault-proxy.js';
import { startRegistry, type TestRegistry } from '../support/registry.js';
import { moduleWithCustomSection } from '../support/wasm-fixtures.js';
import {
  eventually,
  getJson,
  metricValue,
  pushModule,
  pushSession,
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

const viaProxy = (p: Pushed) => fixture.viaProxy(p);
const listing = (dir: string) => readdirSync(dir).sort();
const filesOf = (...ps: Pushed[]) => ps.flatMap((p) => [`${p.hex}.json`, `${p.hex}.wasm`]).sort();

async function imagesFileWith(refs: string[]): Promise<string> {
  const file = join(tempDir(), 'images');
  writeFileSync(file, `${refs.join('\n')}\n`);
  return file;
}

describe('agent under faults', () => {
  it('starts while the registry is down, reports it, and syncs once it is up', async () => {
    const own = await startRegistry();
    try {
      const pushOwn = pushSession();
      const a = await pushModule(pushOwn, own.host, 'down/a', 'v1', moduleWithCustomSection(5000, 'down-a'));
      await pushOwn.close();
      await own.stop();
      const dir = tempDir();
      const agent = await runAgent({ dir, imagesFile: await imagesFileWith([a.pinned]) });
      try {
        // The first attempt fails, so the first sync is over: ready, and the failure is visible.
        await agent.running.agent.whenReady();
        const failure = agent.logs.find((l) => l.msg === 'module pull failed');
        expect(failure?.code).toBe('NETWORK');
        const ready = await getJson(agent.running.port, '/readyz');
        // The error stays visible; on a loaded machine the next attempt may already be running.
        const body = ready.body as { ready: boolean; references: ReferenceStatus[] };
        expect(body.ready).toBe(true);
        expect(body.references).toHaveLength(1);
        expect(body.references[0]).toMatchObject({ reference: a.pinned, error: expect.any(String) });
        expect(['failing', 'pulling']).toContain(body.references[0]!.state);
        expect(body.references[0]!.attempts).toBeGreaterThanOrEqual(1);
        expect(listing(dir)).toEqual([]);
        await own.start();
        await eventually(() => expect(listing(dir)).toEqual(filesOf(a)));
      } finally {
        await agent.stop();
      }
    } finally {
      await own.destroy();
    }
  });

  it('rides out 503 and 429 storms (with Retry-After) and ends with every module', async () => {
    const pushed = [
      await pushModule(session, registry.host, 'storm/a', 'v1', moduleWithCustomSection(3000, 'storm-a')),
      await pushModule(
        session,
        registry.host,
        'storm/b',
        'v1',
        moduleWithCustomSection(3000, 'storm-b'),
        'compat',
      ),
      await pushModule(session, registry.host, 'storm/c', 'v1', moduleWithCustomSection(3000, 'storm-c')),
    ];
    proxy.failNext(25, 503);
    proxy.failNext(25, 429, { 'retry-after': '1' });
    const dir = tempDir();
    const agent = await runAgent({ dir, imagesFile: await imagesFileWith(pushed.map(viaProxy)) });
    try {
      await eventually(() => expect(listing(dir)).toEqual(filesOf(...pushed)), 40_000);
      // The files appear before their pull is counted (the store finishes durability first): wait for both.
      await eventually(async () => {
        const metrics = (await getJson(agent.running.port, '/metrics')).text;
        expect(metricValue(metrics, 'meshwasm_agent_pulls_total{result="failure"}')).toBeGreaterThan(0);
        expect(metricValue(metrics, 'meshwasm_agent_pulls_total{result="success"}')).toBe(3);
      }, 10_000);
      const codes = new Set(agent.logs.filter((l) => l.msg === 'module pull failed').map((l) => l.code));
      expect(codes.size).toBeGreaterThan(0);
      for (const code of codes) expect(['REGISTRY', 'NETWORK']).toContain(code);
    } finally {
      proxy.reset();
      await agent.stop();
    }
  });

  it('does not write a corrupted or truncated blob, reports it, keeps the others, and recovers', async () => {
    const good = await pushModule(
      session,
      registry.host,
      'corrupt/good',
      'v1',
      moduleWithCustomSection(20_000, 'good'),
    );
    const bad = await pushModule(
      session,
      registry.host,
      'corrupt/bad',
      'v1',
      moduleWithCustomSection(20_000, 'bad'),
    );
    const cut = await pushModule(
      session,
      registry.host,
      'corrupt/cut',
      'v1',
      moduleWithCustomSection(20_000, 'cut'),
    );
    // An artifact's layer is the module itself, so its digest is the module's.
    proxy.corruptBlob(bad.moduleDigest);
    proxy.truncateBlob(cut.moduleDigest, 5000);
    const dir = tempDir();
    const agent = await runAgent({
      dir,
      imagesFile: await imagesFileWith([good, bad, cut].map(viaProxy)),
      retryBaseMs: 300,
    });
    try {
      await agent.running.agent.whenReady();
      expect(listing(dir)).toEqual(filesOf(good));
      const failures = agent.logs.filter((l) => l.msg === 'module pull failed');
      const badFailure = failures.find((l) => l.reference === viaProxy(bad));
      expect(badFailure?.code).toBe('DIGEST_MISMATCH');
      expect(String(badFailure?.err)).toContain(bad.moduleDigest);
      expect(failures.some((l) => l.reference === viaProxy(cut))).toBe(true);
      const ready = await getJson(agent.running.port, '/readyz');
      const states = (ready.body as { references: { reference: string; state: string }[] }).references;
      expect(states.find((s) => s.reference === viaProxy(bad))?.state).toBe('failing');
      expect(states.find((s) => s.reference === viaProxy(good))?.state).toBe('present');
      proxy.reset();
      await eventually(() => expect(listing(dir)).toEqual(filesOf(good, bad, cut)));
    } finally {
      proxy.reset();
      await agent.stop();
    }
  });

  it('reports a full directory clearly, leaves no partial file, and still stores what fits', async (ctx) => {
    const mnt = join(tempDir(), 'small');
    mkdirSync(mnt);
    try {
      execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=1m', 'tmpfs', mnt], { stdio: 'pipe' });
    } catch {
      ctx.skip(); // needs CAP_SYS_ADMIN to make a small filesystem; the read-only case runs everywhere
      return;
    }
    try {
      const big = await pushModule(
        session,
        registry.host,
        'full/big',
        'v1',
        moduleWithCustomSection(3 * 1024 * 1024, 'big'),
      );
      const small = await pushModule(
        session,
        registry.host,
        'full/small',
        'v1',
        moduleWithCustomSection(10_000, 'small'),
      );
      const agent = await runAgent({
        dir: mnt,
        imagesFile: await imagesFileWith([viaProxy(big), viaProxy(small)]),
      });
      try {
        await agent.running.agent.whenReady();
        const failure = agent.logs.find(
          (l) => l.msg === 'module pull failed' && l.reference === viaProxy(big),
        );
        expect(failure?.code).toBe('IO');
        expect(String(failure?.err)).toMatch(/ENOSPC/);
        expect(String(failure?.err)).toContain('the disk is full');
        await eventually(() => expect(listing(mnt)).toEqual(filesOf(small)));
      } finally {
        await agent.stop();
      }
    } finally {
      execFileSync('umount', [mnt]);
    }
  });
});
