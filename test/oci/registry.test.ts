import { execFile, execFileSync } from 'node:child_process';
import { promisify } from 'node:util';
import {
  copyFileSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  writeFileSync,
  existsSync,
  readdirSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  copy,
  MediaType,
  OciSession,
  pullWasmToFile,
  pushWasm,
  resolveWasmImage,
} from '../../src/oci/index.js';
import { startRegistry, type TestRegistry } from '../support/registry.js';
import { startFaultProxy, type FaultProxy } from '../support/fault-proxy.js';
import { rawPushImage, tarGzOf } from '../support/raw-push.js';
import { moduleWithCustomSection } from '../support/wasm-fixtures.js';

const FILTER = new URL('../../examples/header-filter/build/header-filter.wasm', import.meta.url).pathname;
const work = mkdtempSync(join(tmpdir(), 'meshwasm-oci-test-'));

function configFor(registry: TestRegistry): string {
  const file = join(work, `config-${registry.port}.json`);
  writeFileSync(
    file,
    JSON.stringify({
      auths: { [registry.host]: { username: registry.username, password: registry.password } },
    }),
  );
  return file;
}

/**
 * skopeo, the second OCI client, reads what we wrote; returns the raw manifest it got. Asynchronous:
 * the token server runs in this process and must keep answering while skopeo waits.
 */
async function skopeoRaw(registry: TestRegistry, ref: string): Promise<string> {
  const args = ['inspect', '--raw'];
  if (registry.caFile) {
    const certDir = join(work, `certs-${registry.port}`);
    mkdirSync(certDir, { recursive: true });
    copyFileSync(registry.caFile, join(certDir, 'ca.crt'));
    args.push('--cert-dir', certDir);
  } else args.push('--tls-verify=false');
  if (registry.username) args.push('--creds', `${registry.username}:${registry.password}`);
  return (await promisify(execFile)('skopeo', [...args, `docker://${ref}`], { encoding: 'utf8' })).stdout;
}

describe.each([
  { name: 'plain HTTP', options: {} },
  { name: 'htpasswd Basic auth over TLS', options: { auth: 'basic' as const, tls: true } },
  { name: 'Bearer tokens', options: { auth: 'token' as const } },
])('push and pull against docker-registry ($name)', ({ options }) => {
  let registry: TestRegistry;
  let session: OciSession;
  beforeAll(async () => {
    registry = await startRegistry(options);
    session = new OciSession({
      plainHttp: !options.tls,
      caFile: registry.caFile,
      registryConfig: configFor(registry),
    });
  });
  afterAll(async () => {
    await session.close();
    await registry.destroy();
  });

  it.each(['artifact', 'compat'] as const)(
    'round-trips the example filter byte for byte in the %s format',
    async (format) => {
      const { target, selector } = await session.open(`${registry.host}/asm/asm-test:${format}`);
      const pushed = await pushWasm(target, selector, FILTER, { rootIds: ['my_root_id'], format });
      const out = join(work, `${registry.port}-${format}.wasm`);
      const pulled = await pullWasmToFile(target, selector, out);
      expect(readFileSync(out).equals(readFileSync(FILTER))).toBe(true);
      expect(pulled.manifestDigest).toBe(pushed.descriptor.digest);
      expect(pulled.format).toBe(format === 'artifact' ? 'artifact' : 'oci-compat');
      expect(pulled.module.digest).toBe(pushed.module.digest);

      const raw = JSON.parse(await skopeoRaw(registry, `${registry.host}/asm/asm-test:${format}`));
      if (format === 'artifact') {
        // Exactly what `oras push ... --manifest-config runtime-config.json:<config type> f.wasm:<layer type>` writes.
        expect(raw.config.mediaType).toBe(MediaType.wasmConfig);
        expect(raw.layers).toHaveLength(1);
        expect(raw.layers[0].mediaType).toBe(MediaType.wasmLayer);
        expect(raw.layers[0].annotations['org.opencontainers.image.title']).toBe('header-filter.wasm');
        expect(pulled.runtimeConfig).toEqual({
          type: 'envoy_proxy',
          abiVersions: ['v0.2.1'],
          config: { rootIds: ['my_root_id'] },
        });
      } else {
        expect(raw.layers.at(-1).mediaType).toBe(MediaType.ociLayerTarGzip);
        expect(raw.annotations['module.wasm.image/variant']).toBe('compat');
      }
    },
  );

  it('round-trips a 12 MiB module: the upload streamed, the download in large reads with backpressure', async () => {
    const big = moduleWithCustomSection(12 * 1024 * 1024, 'large');
    const file = join(work, `${registry.port}-large.wasm`);
    writeFileSync(file, big);
    const { target, selector } = await session.open(`${registry.host}/asm/large:v1`);
    const pushed = await pushWasm(target, selector, file);
    const out = join(work, `${registry.port}-large-pulled.wasm`);
    const pulled = await pullWasmToFile(target, selector, out);
    expect(pulled.layer.digest).toBe(pushed.layer.digest);
    expect(readFileSync(out).equals(big)).toBe(true);
    // A slow reader: the body waits in the socket while the consumer does not read, nothing is lost.
    const stream = await target.fetch(pulled.layer);
    const chunks: Buffer[] = [];
    for await (const chunk of stream) {
      chunks.push(chunk as Buffer);
      if (chunks.length % 4 === 0) await new Promise((resolve) => setTimeout(resolve, 5));
    }
    expect(Buffer.concat(chunks).equals(big)).toBe(true);
  });
});

describe('interoperability and transfers (plain HTTP registry behind a counting proxy)', () => {
  let registry: TestRegistry;
  let proxy: FaultProxy;
  let session: OciSession;
  const module = moduleWithCustomSection(300 * 1024, 'interop');
  const modulePath = join(work, 'interop.wasm');
  beforeAll(async () => {
    registry = await startRegistry();
    proxy = await startFaultProxy({ upstream: registry.url });
    session = new OciSession({ plainHttp: true, registryConfig: join(work, 'none.json') });
    writeFileSync(modulePath, module);
  });
  afterAll(async () => {
    await session.close();
    await proxy.stop();
    await registry.destroy();
  });

  const pullFrom = async (ref: string) => {
    const { target, selector } = await session.open(ref);
    const file = join(work, `pulled-${Math.random().toString(36).slice(2)}.wasm`);
    const pulled = await pullWasmToFile(target, selector, file);
    expect(readFileSync(file).equals(module)).toBe(true);
    return pulled;
  };

  it("reads wasme's two-layer artifact pushed by another client", async () => {
    const config = {
      mediaType: MediaType.wasmConfig,
      bytes: Buffer.from(
        '{"type":"envoy_proxy","abiVersions":["v0-541b2c1155fffb15ccde92b8324f3e38f7339ba6"],"config":{"rootIds":["add_header"]}}',
      ),
    };
    await rawPushImage(registry.url, 'wasme/filter', 'v1', MediaType.ociManifest, config, [
      config,
      { mediaType: MediaType.wasmLayer, bytes: module },
    ]);
    const pulled = await pullFrom(`${proxy.host}/wasme/filter:v1`);
    expect(pulled.format).toBe('wasme');
    expect(pulled.runtimeConfig?.config?.rootIds).toEqual(['add_header']);
  });

  it('reads a Docker image with plugin.wasm in its last tar.gz layer', async () => {
    const config = {
      mediaType: MediaType.dockerConfig,
      bytes: Buffer.from('{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}'),
    };
    const base = {
      mediaType: MediaType.dockerLayerTarGzip,
      bytes: tarGzOf([
        { name: 'etc/', data: Buffer.alloc(0), type: 'dir' },
        { name: 'etc/motd', data: Buffer.from('hi') },
      ]),
    };
    const plugin = {
      mediaType: MediaType.dockerLayerTarGzip,
      bytes: tarGzOf([
        { name: './runtime-config.json', data: Buffer.from('{}') },
        { name: './plugin.wasm', data: module },
      ]),
    };
    await rawPushImage(registry.url, 'docker/filter', 'v1', MediaType.dockerManifest, config, [base, plugin]);
    expect((await pullFrom(`${proxy.host}/docker/filter:v1`)).format).toBe('docker');
  });

  it('reads an OCI compat image built by another client', async () => {
    const config = {
      mediaType: MediaType.ociConfig,
      bytes: Buffer.from('{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}'),
    };
    const layer = {
      mediaType: MediaType.ociLayerTarGzip,
      bytes: tarGzOf([{ name: 'plugin.wasm', data: module }]),
    };
    await rawPushImage(registry.url, 'compat/filter', 'v1', MediaType.ociManifest, config, [layer], {
      'module.wasm.image/variant': 'compat',
    });
    expect((await pullFrom(`${proxy.host}/compat/filter:v1`)).format).toBe('oci-compat');
  });

  it('uploads in PATCH chunks when asked, and the registry assembles the same blob', async () => {
    const chunked = new OciSession({
      plainHttp: true,
      registryConfig: join(work, 'none.json'),
      chunkSize: 64 * 1024,
    });
    try {
      const { target, selector } = await chunked.open(`${proxy.host}/chunked/filter:v1`);
      const before = proxy.count('PATCH', /\/chunked\/filter\/blobs\/uploads\//);
      await pushWasm(target, selector, modulePath);
      expect(proxy.count('PATCH', /\/chunked\/filter\/blobs\/uploads\//) - before).toBe(
        Math.ceil(module.length / (64 * 1024)),
      );
    } finally {
      await chunked.close();
    }
    await pullFrom(`${proxy.host}/chunked/filter:v1`);
  });

  it('copies within a registry by mounting blobs, and skips what exists', async () => {
    const { target: src, selector } = await session.open(`${proxy.host}/mount/src:v1`);
    await pushWasm(src, selector, modulePath);
    const { target: dst } = await session.open(`${proxy.host}/mount/dst:v1`);
    const blobPutsBefore = proxy.count('PUT', /\/mount\/dst\/blobs\/uploads\//);
    const first = await copy(src, 'v1', dst, 'v1');
    expect(first).toMatchObject({ mounted: 2, copied: 1, bytes: 0 });
    expect(proxy.count('POST', /\/mount\/dst\/blobs\/uploads\/\?mount=sha256/)).toBe(2);
    expect(proxy.count('PUT', /\/mount\/dst\/blobs\/uploads\//)).toBe(blobPutsBefore);
    const again = await copy(src, 'v1', dst, 'v2');
    expect(again).toMatchObject({ mounted: 0, copied: 0, skipped: 3 });
    await pullFrom(`${proxy.host}/mount/dst:v2`);
  });

  it('copies registry -> OCI layout -> another registry; skopeo reads the layout', async () => {
    const layout = join(work, 'layout');
    const { target: src } = await session.open(`${proxy.host}/mount/src:v1`);
    const { target: dir } = await session.open(`${layout}:v1`, { ociLayout: true });
    const down = await copy(src, 'v1', dir, 'v1');
    expect(down.copied).toBe(3);
    expect(existsSync(join(layout, 'oci-layout'))).toBe(true);
    const raw = JSON.parse(
      execFileSync('skopeo', ['inspect', '--raw', `oci:${layout}:v1`], { encoding: 'utf8' }),
    );
    expect(raw.layers[0].mediaType).toBe(MediaType.wasmLayer);
    const other = await startRegistry();
    try {
      const { target: up } = await session.open(`${other.host}/from-layout/filter:v1`);
      expect((await copy(dir, 'v1', up, 'v1')).copied).toBe(3);
      const image = await resolveWasmImage(up, 'v1');
      expect(image.manifestDigest).toBe(down.descriptor.digest);
    } finally {
      await other.destroy();
    }
    expect(readdirSync(join(layout, 'blobs', 'sha256')).filter((f) => f.includes('.partial-'))).toEqual([]);
  });
});
