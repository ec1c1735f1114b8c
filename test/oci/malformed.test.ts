import { execFile } from 'node:child_process';
import { mkdtempSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import {
  MediaType,
  MemoryTarget,
  pullWasmToFile,
  pushWasm,
  sha256Digest,
  LayoutTarget,
} from '../../src/oci/index.js';
import { tarGzOf, tarOf } from '../support/raw-push.js';
import { moduleWithCustomSection } from '../support/wasm-fixtures.js';

const work = mkdtempSync(join(tmpdir(), 'meshwasm-malformed-'));
const module = moduleWithCustomSection(4096, 'malformed');

function blob(mediaType: string, bytes: Buffer) {
  return { mediaType, digest: sha256Digest(bytes), size: bytes.length, bytes };
}

/** A store holding one image made of `layers`, tagged v1. */
async function imageWith(
  layers: { mediaType: string; bytes: Buffer }[],
  manifestOverride?: Buffer,
  configBlob = blob(MediaType.ociConfig, Buffer.from('{}')),
) {
  const target = new MemoryTarget();
  const config = configBlob;
  const blobs = [config, ...layers.map((l) => blob(l.mediaType, l.bytes))];
  for (const b of blobs) await target.push(b, b.bytes);
  const manifest =
    manifestOverride ??
    Buffer.from(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: MediaType.ociManifest,
        config: strip(config),
        layers: blobs.slice(1).map(strip),
      }),
    );
  const descriptor = {
    mediaType: MediaType.ociManifest,
    digest: sha256Digest(manifest),
    size: manifest.length,
  };
  await target.push(descriptor, manifest);
  await target.tag(descriptor, 'v1');
  return target;
}

function strip(b: { mediaType: string; digest: string; size: number }) {
  return { mediaType: b.mediaType, digest: b.digest, size: b.size };
}

async function expectCleanFailure(
  target: MemoryTarget,
  expected: { code: string; message: RegExp },
  options = {},
) {
  const dir = mkdtempSync(join(work, 'out-'));
  const err = (await pullWasmToFile(target, 'v1', join(dir, 'module.wasm'), options).catch(
    (e: unknown) => e,
  )) as { code: string; message: string };
  expect(err.code).toBe(expected.code);
  expect(err.message).toMatch(expected.message);
  expect(readdirSync(dir)).toEqual([]);
}

describe('malformed images give a clear error and leave no file', () => {
  it('a tar layer with a path-traversal entry', async () => {
    const layer = {
      mediaType: MediaType.ociLayerTarGzip,
      bytes: tarGzOf([{ name: '../../etc/plugin.wasm', data: module }]),
    };
    await expectCleanFailure(await imageWith([layer]), {
      code: 'INVALID_MANIFEST',
      message: /"\.\.\/\.\.\/etc\/plugin\.wasm" points outside/,
    });
  });

  it('an absolute tar entry name', async () => {
    const layer = {
      mediaType: MediaType.ociLayerTar,
      bytes: tarOf([{ name: '/plugin.wasm', data: module }]),
    };
    await expectCleanFailure(await imageWith([layer]), {
      code: 'INVALID_MANIFEST',
      message: /points outside/,
    });
  });

  it('a tar layer without plugin.wasm', async () => {
    const layer = {
      mediaType: MediaType.ociLayerTarGzip,
      bytes: tarGzOf([{ name: 'filter.wasm', data: module }]),
    };
    await expectCleanFailure(await imageWith([layer]), {
      code: 'UNSUPPORTED_FORMAT',
      message: /no plugin\.wasm/,
    });
  });

  it('a layer that is not gzip although it says so', async () => {
    const layer = {
      mediaType: MediaType.ociLayerTarGzip,
      bytes: tarOf([{ name: 'plugin.wasm', data: module }]),
    };
    await expectCleanFailure(await imageWith([layer]), {
      code: 'INVALID_MANIFEST',
      message: /not valid gzip/,
    });
  });

  it('plugin.wasm that is not Wasm', async () => {
    const layer = {
      mediaType: MediaType.ociLayerTarGzip,
      bytes: tarGzOf([{ name: 'plugin.wasm', data: Buffer.from('#!/bin/sh\necho hi\n') }]),
    };
    await expectCleanFailure(await imageWith([layer]), {
      code: 'INVALID_MODULE',
      message: /not a WebAssembly module/,
    });
  });

  it('a module over the size cap, in a wasm layer and inside a compressed tar', async () => {
    const big = moduleWithCustomSection(64 * 1024, 'big');
    await expectCleanFailure(
      await imageWith([{ mediaType: MediaType.wasmLayer, bytes: big }]),
      { code: 'TOO_LARGE', message: /limit/ },
      { maxModuleBytes: 16 * 1024 },
    );
    const zipped = {
      mediaType: MediaType.ociLayerTarGzip,
      bytes: tarGzOf([{ name: 'plugin.wasm', data: big }]),
    };
    await expectCleanFailure(
      await imageWith([zipped]),
      { code: 'TOO_LARGE', message: /limit/ },
      { maxModuleBytes: 16 * 1024 },
    );
  });

  it('an image with no Wasm in it', async () => {
    await expectCleanFailure(
      await imageWith([{ mediaType: 'application/vnd.example.thing', bytes: Buffer.from('x') }]),
      {
        code: 'UNSUPPORTED_FORMAT',
        message: /not a Wasm image \(layers: application\/vnd.example.thing\)/,
      },
    );
  });

  // The config is read while the module streams in (wasm-image.ts): the file must still never appear.
  it('a Wasm artifact whose runtime config is not JSON, the module itself being fine', async () => {
    const bigModule = moduleWithCustomSection(3 * 1024 * 1024, 'config-fails');
    await expectCleanFailure(
      await imageWith(
        [{ mediaType: MediaType.wasmLayer, bytes: bigModule }],
        undefined,
        blob(MediaType.wasmConfig, Buffer.from('{"type": nope')),
      ),
      { code: 'INVALID_INPUT', message: /config sha256:[0-9a-f]{64} is not valid JSON/ },
    );
  });

  it.each([
    ['not JSON', Buffer.from('{nope'), /not valid JSON/],
    ['the wrong schemaVersion', Buffer.from('{"schemaVersion":1,"layers":[]}'), /schemaVersion is 1/],
    [
      'a layer with a bad digest',
      Buffer.from(
        `{"schemaVersion":2,"config":{"mediaType":"a","digest":"sha256:${'0'.repeat(64)}","size":2},"layers":[{"mediaType":"b","digest":"md5:x","size":1}]}`,
      ),
      /layers\[0\]: digest "md5:x" is not valid/,
    ],
  ])('a manifest that is %s', async (_name, manifest, message) => {
    await expectCleanFailure(await imageWith([], manifest), { code: 'INVALID_MANIFEST', message });
  });

  it('push refuses a file that is not a Wasm module, through the CLI, and stores nothing', async () => {
    const notWasm = join(work, 'filter.wasm');
    writeFileSync(notWasm, '(module (func))');
    const layout = join(work, 'layout');
    const bin = new URL('../../bin/meshwasm.js', import.meta.url).pathname;
    const err = (await promisify(execFile)(process.execPath, [
      bin,
      'push',
      '--oci-layout',
      `${layout}:v1`,
      notWasm,
    ]).catch((e: unknown) => e)) as {
      code: number;
      stderr: string;
    };
    expect(err.code).toBe(1);
    expect(err.stderr).toContain('is not a WebAssembly module');
    expect(err.stderr).toContain('wat2wasm');
    expect(err.stderr).not.toMatch(/\n\s+at /); // no stack trace without --debug
    await expect(new LayoutTarget(layout).resolve('v1')).rejects.toMatchObject({ code: 'NOT_FOUND' });
  });

  it('an OCI layout round trip keeps nothing partial behind', async () => {
    const file = join(work, 'ok.wasm');
    writeFileSync(file, module);
    const layout = new LayoutTarget(join(work, 'layout2'));
    await pushWasm(layout, 'v1', file, { format: 'compat' });
    const dir = mkdtempSync(join(work, 'ok-'));
    const pulled = await pullWasmToFile(layout, 'v1', join(dir, 'm.wasm'));
    expect(pulled.format).toBe('oci-compat');
    expect(readdirSync(dir)).toEqual(['m.wasm']);
  });
});
