/**
 * `meshwasm run --filter REF`: the filter comes from a real registry (Debian's docker-registry), pushed
 * with `meshwasm push` in the seed's format with the example's runtime-config.json, and from an OCI
 * image layout.
 */
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startRegistry, type TestRegistry } from '../support/registry.js';
import { HEADER_FILTER_WASM } from '../support/global-setup.js';
import { runSidecar, startUpstream, type RunningSidecar, type Upstream } from './helpers.js';

const run = promisify(execFile);
const bin = fileURLToPath(new URL('../../bin/meshwasm.js', import.meta.url));
const runtimeConfig = fileURLToPath(
  new URL('../../examples/header-filter/runtime-config.json', import.meta.url),
);

let registry: TestRegistry;
let upstream: Upstream;
let dir: string;
const sidecars: RunningSidecar[] = [];

beforeAll(async () => {
  registry = await startRegistry();
  upstream = await startUpstream();
  dir = await mkdtemp(join(tmpdir(), 'meshwasm-run-oci-'));
});

afterAll(async () => {
  await Promise.all(sidecars.map((s) => s.stop()));
  await upstream.close();
  await registry.destroy();
  await rm(dir, { recursive: true, force: true });
});

describe('meshwasm run --filter REF', () => {
  it('pulls the filter from a registry and runs it', async () => {
    const ref = `${registry.host}/asm/asm-test:v0.1`;
    await run(process.execPath, [
      bin,
      'push',
      '--plain-http',
      '--config',
      runtimeConfig,
      ref,
      HEADER_FILTER_WASM,
    ]);
    const s = await runSidecar([
      '--upstream',
      upstream.url,
      '--plain-http',
      '--filter',
      ref,
      '--root-id',
      'my_root_id',
      '--config',
      '{"name":"hello","value":"hello details"}',
    ]);
    sidecars.push(s);
    expect(s.stderr()).toMatch(/pulled .*asm-test:v0\.1 \(artifact, sha256:[0-9a-f]{64}\)/);
    const res = await fetch(`${s.url}/details/123`);
    expect(res.headers.get('hello')).toBe('hello details');
  });

  it('runs a WasmPlugin whose url is oci:// or a plain reference, checking its sha256', async () => {
    const ref = `${registry.host}/asm/asm-test:v0.1`; // pushed by the test above
    const sha = createHash('sha256')
      .update(await readFile(HEADER_FILTER_WASM))
      .digest('hex');
    const plugin = (name: string, url: string) =>
      `kind: WasmPlugin\napiVersion: extensions.istio.io/v1alpha1\nmetadata: {name: ${name}}\n` +
      `spec: {url: "${url}", sha256: "${sha}", pluginName: my_root_id, pluginConfig: {name: x-${name}, value: "yes"}}\n`;
    const file = join(dir, 'wasmplugin.yaml');
    await writeFile(file, `${plugin('oci', `oci://${ref}`)}---\n${plugin('plain', ref)}`);
    const s = await runSidecar(['--upstream', upstream.url, '--plain-http', '-f', file]);
    sidecars.push(s);
    const res = await fetch(`${s.url}/details/123`);
    expect(res.headers.get('x-oci')).toBe('yes');
    expect(res.headers.get('x-plain')).toBe('yes');
  });

  it('pulls from an OCI image layout with --oci-layout', async () => {
    const layout = join(dir, 'layout');
    await run(process.execPath, [
      bin,
      'push',
      '--oci-layout',
      '--root-id',
      'my_root_id',
      `${layout}:v1`,
      HEADER_FILTER_WASM,
    ]);
    const s = await runSidecar(['--upstream', upstream.url, '--oci-layout', '--filter', `${layout}:v1`]);
    sidecars.push(s);
    const res = await fetch(`${s.url}/`);
    expect(res.headers.get('resp-header-demo')).toBe('added by our filter');
  });

  it('exits with an error naming the reference when it cannot be pulled', async () => {
    const err = await runSidecar([
      '--upstream',
      upstream.url,
      '--plain-http',
      '--filter',
      `${registry.host}/asm/missing:v9`,
    ]).catch((e: Error) => e);
    expect(err).toBeInstanceOf(Error);
    expect((err as Error).message).toContain('missing');
  });
});
