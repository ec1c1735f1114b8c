import { existsSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { OciSession, pullWasmToFile, pushWasm } from '../../src/oci/index.js';
import { startFaultProxy, type FaultProxy } from '../support/fault-proxy.js';
import { startRegistry, type TestRegistry } from '../support/registry.js';
import { moduleWithCustomSection } from '../support/wasm-fixtures.js';

const work = mkdtempSync(join(tmpdir(), 'meshwasm-faults-'));
const module = moduleWithCustomSection(256 * 1024, 'faults');
const modulePath = join(work, 'filter.wasm');
writeFileSync(modulePath, module);

describe('faults between the client and the registry', () => {
  let registry: TestRegistry;
  let proxy: FaultProxy;
  let session: OciSession;
  let layerDigest: string;
  const retries: { status?: number; waitMs: number }[] = [];

  beforeAll(async () => {
    registry = await startRegistry({ auth: 'basic' });
    proxy = await startFaultProxy({ upstream: registry.url });
    const config = join(work, 'config.json');
    writeFileSync(
      config,
      JSON.stringify({
        auths: { [proxy.host]: { username: registry.username, password: registry.password } },
      }),
    );
    session = new OciSession({
      plainHttp: true,
      registryConfig: config,
      retryBaseMs: 5,
      retryMaxMs: 1500,
      onRetry: (r) => retries.push(r),
    });
    const { target, selector } = await session.open(`${proxy.host}/faults/filter:v1`);
    layerDigest = (await pushWasm(target, selector, modulePath)).layer.digest;
  });
  afterAll(async () => {
    await session.close();
    await proxy.stop();
    await registry.destroy();
  });
  beforeEach(() => proxy.reset());

  const outDir = () => mkdtempSync(join(work, 'out-'));
  const pull = async (dir: string) => {
    const { target, selector } = await session.open(`${proxy.host}/faults/filter:v1`);
    return pullWasmToFile(target, selector, join(dir, 'filter.wasm'));
  };

  it('retries 503s and succeeds', async () => {
    const dir = outDir();
    const before = proxy.requests.length;
    proxy.failNext(3, 503);
    await pull(dir);
    expect(readFileSync(join(dir, 'filter.wasm')).equals(module)).toBe(true);
    expect(proxy.requests.slice(before).length).toBeGreaterThanOrEqual(3 + 3);
  });

  it("honours a 429's Retry-After (bounded by retryMaxMs)", async () => {
    const dir = outDir();
    proxy.failNext(1, 429, { 'retry-after': '1' });
    proxy.failNext(1, 429, { 'retry-after': '3600' });
    await pull(dir);
    // The server's waits, not the 5 ms base backoff; an hour is capped at retryMaxMs.
    expect(retries.filter((r) => r.status === 429).map((r) => r.waitMs)).toEqual([1000, 1500]);
    expect(existsSync(join(dir, 'filter.wasm'))).toBe(true);
  });

  it('gives up after bounded attempts with a clear error, leaving no file', async () => {
    const dir = outDir();
    proxy.failNext(20, 503);
    await expect(pull(dir)).rejects.toMatchObject({
      code: 'REGISTRY',
      message: expect.stringContaining('503'),
    });
    expect(readdirSync(dir)).toEqual([]);
  });

  it('rejects a blob with a flipped byte (digest mismatch) and writes nothing', async () => {
    const dir = outDir();
    proxy.corruptBlob(layerDigest);
    await expect(pull(dir)).rejects.toMatchObject({
      code: 'DIGEST_MISMATCH',
      message: expect.stringContaining(layerDigest),
    });
    expect(readdirSync(dir)).toEqual([]);
  });

  it('calls a flipped first byte a digest mismatch, not a file that is not Wasm', async () => {
    const dir = outDir();
    proxy.corruptBlob(layerDigest, 0);
    await expect(pull(dir)).rejects.toMatchObject({
      code: 'DIGEST_MISMATCH',
      message: expect.stringContaining(layerDigest),
    });
    expect(readdirSync(dir)).toEqual([]);
  });

  it('rejects a truncated body and writes nothing', async () => {
    const dir = outDir();
    proxy.truncateBlob(layerDigest, 1000);
    await expect(pull(dir)).rejects.toMatchObject({
      code: 'NETWORK',
      message: expect.stringMatching(/blob sha256:.* broke off after 1000 of \d+ bytes/),
    });
    expect(readdirSync(dir)).toEqual([]);
  });

  it('gives up on a registry that stops sending mid-body (idle timeout) and writes nothing', async () => {
    const dir = outDir();
    proxy.stallBlob(layerDigest, 1000);
    const impatient = new OciSession({
      plainHttp: true,
      registryConfig: join(work, 'config.json'),
      idleTimeoutMs: 300,
      maxAttempts: 1,
    });
    try {
      const { target, selector } = await impatient.open(`${proxy.host}/faults/filter:v1`);
      await expect(pullWasmToFile(target, selector, join(dir, 'filter.wasm'))).rejects.toMatchObject({
        code: 'NETWORK',
        message: expect.stringMatching(
          /blob sha256:.* broke off after 1000 of \d+ bytes.*no progress for 300 ms/,
        ),
      });
    } finally {
      await impatient.close();
    }
    expect(readdirSync(dir)).toEqual([]);
  });

  it('follows a redirect to another host without sending it the Authorization header', async () => {
    // "storage" stands for S3 or a CDN: another host that serves the same blobs without credentials.
    const mirror = await startRegistry();
    const storage = await startFaultProxy({ upstream: mirror.url });
    try {
      const plain = new OciSession({ plainHttp: true, registryConfig: join(work, 'none.json') });
      const opened = await plain.open(`${mirror.host}/faults/filter:v1`);
      await pushWasm(opened.target, opened.selector, modulePath);
      await plain.close();
      const dir = outDir();
      proxy.redirectBlobs(storage.url);
      await pull(dir);
      expect(readFileSync(join(dir, 'filter.wasm')).equals(module)).toBe(true);
      const toRegistry = proxy.requests.filter((r) => r.path.includes('/manifests/'));
      expect(toRegistry.some((r) => r.authorization?.startsWith('Basic '))).toBe(true);
      const toStorage = storage.requests.filter((r) => r.path.includes('/blobs/'));
      expect(toStorage.length).toBeGreaterThan(0);
      expect(toStorage.every((r) => r.authorization === undefined)).toBe(true);
    } finally {
      await storage.stop();
      await mirror.destroy();
    }
  });

  it('reports a registry that is down, and works once it is back', async () => {
    const dir = outDir();
    await registry.stop();
    await expect(pull(dir)).rejects.toBeTruthy();
    expect(readdirSync(dir)).toEqual([]);
    await registry.start();
    await pull(dir);
    expect(readFileSync(join(dir, 'filter.wasm')).equals(module)).toBe(true);
  });

  it('says how to fix connecting to a registry that is not running', async () => {
    const quick = new OciSession({
      plainHttp: true,
      maxAttempts: 1,
      registryConfig: join(work, 'none.json'),
    });
    const { target, selector } = await quick.open('127.0.0.1:1/nothing:v1');
    await expect(pullWasmToFile(target, selector, join(work, 'never.wasm'))).rejects.toMatchObject({
      code: 'NETWORK',
      hint: expect.stringContaining('is the registry running'),
    });
    await quick.close();
    expect(existsSync(join(work, 'never.wasm'))).toBe(false);
  });
});
