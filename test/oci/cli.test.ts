import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startRegistry, type TestRegistry } from '../support/registry.js';

const BIN = new URL('../../bin/meshwasm.js', import.meta.url).pathname;
const FILTER = new URL('../../examples/header-filter/build/header-filter.wasm', import.meta.url).pathname;
const RUNTIME_CONFIG = new URL('../../examples/header-filter/runtime-config.json', import.meta.url).pathname;
const work = mkdtempSync(join(tmpdir(), 'meshwasm-cli-'));

async function meshwasm(...args: string[]): Promise<Record<string, unknown>> {
  const { stdout } = await promisify(execFile)(process.execPath, [BIN, ...args, '--output', 'json']);
  return JSON.parse(stdout) as Record<string, unknown>;
}

describe('push, copy, inspect and pull through the CLI, between an OCI layout and a registry', () => {
  let registry: TestRegistry;
  beforeAll(async () => {
    registry = await startRegistry();
  });
  afterAll(async () => registry.destroy());

  it("keeps the seed's artifact intact on every hop and describes it", async () => {
    const layout = join(work, 'store');
    const pushed = await meshwasm(
      'push',
      '--oci-layout',
      `${layout}:v0.1`,
      FILTER,
      '--config',
      RUNTIME_CONFIG,
    );
    const plain = ['--plain-http', '--registry-config', join(work, 'none.json')];

    const copied = await meshwasm(
      'copy',
      '--from-oci-layout',
      `${layout}:v0.1`,
      `${registry.host}/asm/asm-test`,
      ...plain,
    );
    expect(copied).toMatchObject({ digest: pushed.digest, copied: 3, skipped: 0 });
    const again = await meshwasm(
      'copy',
      '--from-oci-layout',
      `${layout}:v0.1`,
      `${registry.host}/asm/asm-test:v0.1`,
      ...plain,
    );
    expect(again).toMatchObject({ copied: 0, skipped: 3 });

    const info = await meshwasm('inspect', `${registry.host}/asm/asm-test:v0.1`, ...plain);
    const config = JSON.parse(readFileSync(RUNTIME_CONFIG, 'utf8')) as {
      config: { rootIds: string[] };
      abiVersions: string[];
    };
    expect(info).toMatchObject({
      digest: pushed.digest,
      format: 'artifact',
      mediaType: 'application/vnd.oci.image.manifest.v1+json',
      config: { mediaType: 'application/vnd.module.wasm.config.v1+json' },
      layers: [
        { mediaType: 'application/vnd.module.wasm.content.layer.v1+wasm', title: 'header-filter.wasm' },
      ],
      module: { size: readFileSync(FILTER).length, abi: ['v0.2.1'] },
      rootIds: config.config.rootIds,
      abiVersions: config.abiVersions,
    });

    const out = join(work, 'pulled.wasm');
    const pulled = await meshwasm(
      'pull',
      `${registry.host}/asm/asm-test@${pushed.digest as string}`,
      '-o',
      out,
      ...plain,
    );
    expect(pulled).toMatchObject({ digest: pushed.digest, format: 'artifact', file: out });
    expect(readFileSync(out).equals(readFileSync(FILTER))).toBe(true);
  });
});

describe('copy between a plain-HTTP registry and a TLS one (--from-plain-http, --to-plain-http)', () => {
  let plainRegistry: TestRegistry;
  let tlsRegistry: TestRegistry;
  beforeAll(async () => {
    [plainRegistry, tlsRegistry] = await Promise.all([startRegistry(), startRegistry({ tls: true })]);
  });
  afterAll(async () => Promise.all([plainRegistry.destroy(), tlsRegistry.destroy()]));

  it('speaks plain HTTP only to the side that was named, and TLS to the other', async () => {
    const creds = ['--registry-config', join(work, 'none.json')];
    const tls = ['--ca-file', tlsRegistry.caFile!];
    const pushed = await meshwasm(
      'push',
      `${plainRegistry.host}/asm/mirror:v1`,
      FILTER,
      '--plain-http',
      ...creds,
    );
    const there = await meshwasm(
      'copy',
      `${plainRegistry.host}/asm/mirror:v1`,
      `${tlsRegistry.host}/asm/mirror:v1`,
      '--from-plain-http',
      ...tls,
      ...creds,
    );
    expect(there).toMatchObject({ digest: pushed.digest });
    const back = await meshwasm(
      'copy',
      `${tlsRegistry.host}/asm/mirror:v1`,
      `${plainRegistry.host}/asm/back:v1`,
      '--to-plain-http',
      ...tls,
      ...creds,
    );
    expect(back).toMatchObject({ digest: pushed.digest });
    // Without the flag the plain registry is spoken to over TLS, and that fails with a clear error.
    const refused = await meshwasm(
      'copy',
      `${plainRegistry.host}/asm/mirror:v1`,
      `${tlsRegistry.host}/asm/other:v1`,
      ...tls,
      ...creds,
    ).catch((err: { stderr?: string }) => err.stderr ?? String(err));
    expect(String(refused)).toMatch(new RegExp(plainRegistry.host.replace(/[.]/g, '\\.')));
    expect(String(refused)).toMatch(/does not speak TLS on this port/);
  });
});
