/**
 * `meshwasm run -f FILE`: the process as users run it, configured from EnvoyFilter and WasmPlugin YAML,
 * with `--filters-dir` standing in for the node directory; real modules, real HTTP.
 */
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { copyFile, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { parse } from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { renderEnvoyFilter, toYaml, validateFilterDeployment } from '../../src/mesh/index.js';
import { HEADER_FILTER_WASM } from '../support/global-setup.js';
import { watFixture } from '../fixtures/wasm/index.js';
import { runSidecar, startUpstream, type RunningSidecar, type Upstream } from './helpers.js';

const run = promisify(execFile);
const bin = fileURLToPath(new URL('../../bin/meshwasm.js', import.meta.url));
const HEX = 'ab'.repeat(32);
let upstream: Upstream;
let dir: string;
let nodeDir: string;
let headerSha: string;
const sidecars: RunningSidecar[] = [];

async function sidecar(args: string[]): Promise<RunningSidecar> {
  const s = await runSidecar(['--upstream', upstream.url, ...args]);
  sidecars.push(s);
  return s;
}

async function yamlFile(name: string, text: string): Promise<string> {
  const file = join(dir, name);
  await writeFile(file, text);
  return file;
}

beforeAll(async () => {
  upstream = await startUpstream();
  dir = await mkdtemp(join(tmpdir(), 'meshwasm-run-file-'));
  nodeDir = join(dir, 'node');
  await run('mkdir', ['-p', nodeDir]);
  await copyFile(HEADER_FILTER_WASM, join(nodeDir, `${HEX}.wasm`));
  await writeFile(join(nodeDir, 'headers.wasm'), await watFixture('headers'));
  await writeFile(join(nodeDir, 'wasi.wasm'), await watFixture('wasi'));
  headerSha = createHash('sha256')
    .update(await readFile(HEADER_FILTER_WASM))
    .digest('hex');
});

afterAll(async () => {
  await Promise.all(sidecars.map((s) => s.stop()));
  await upstream.close();
  await rm(dir, { recursive: true, force: true });
});

describe('meshwasm run -f', () => {
  it('runs the EnvoyFilter the controller renders, plus a hand-written one, with --filters-dir', async () => {
    const valid = validateFilterDeployment(
      parse(await readFile('examples/header-filter/filter.yaml', 'utf8')),
    );
    if (!valid.ok) throw new Error('filter.yaml is invalid');
    const rendered = toYaml(renderEnvoyFilter(valid.value, `sha256:${HEX}`));
    const own = `
apiVersion: networking.istio.io/v1alpha3
kind: EnvoyFilter
metadata: {name: mine}
spec:
  configPatches:
  - applyTo: HTTP_FILTER
    patch:
      operation: INSERT_BEFORE
      value:
        name: envoy.filters.http.wasm
        typed_config:
          "@type": type.googleapis.com/udpa.type.v1.TypedStruct
          type_url: type.googleapis.com/envoy.extensions.filters.http.wasm.v3.Wasm
          value:
            config:
              name: headers
              fail_open: true
              vm_config: {vm_id: v, code: {local: {filename: /var/local/lib/wasm-filters/headers.wasm}}}
`;
    const file = await yamlFile('envoyfilters.yaml', `${rendered}---\n${own}`);
    const s = await sidecar(['-f', file, '--filters-dir', nodeDir]);
    const res = await fetch(`${s.url}/details/123`);
    expect(res.headers.get('hello')).toBe('hello details'); // the rendered filter, configured
    await res.text();
    expect(upstream.requests.at(-1)!.headers['x-added']).toBe('1'); // the hand-written one
    const line = await s.waitForLog((l) => l.msg === 'request');
    expect(Object.keys(line.filters as object)).toEqual(['details-v1-wasmfiltersample.default', 'headers']);
  });

  it('runs an Istio WasmPlugin: file:// url, sha256, pluginConfig as JSON text, pluginName, vmConfig.env', async () => {
    const file = await yamlFile(
      'wasmplugins.yaml',
      `
apiVersion: extensions.istio.io/v1alpha1
kind: WasmPlugin
metadata: {name: greeter, namespace: default}
spec:
  selector: {matchLabels: {app: details}}
  url: file:///var/local/lib/wasm-filters/${HEX}.wasm
  sha256: ${headerSha}
  pluginName: my_root_id
  pluginConfig: {name: x-plugin, value: from a WasmPlugin}
  phase: STATS
---
apiVersion: extensions.istio.io/v1alpha1
kind: WasmPlugin
metadata: {name: wasi}
spec:
  url: file:///var/local/lib/wasm-filters/wasi.wasm
  failStrategy: FAIL_OPEN
  phase: AUTHN
  vmConfig:
    env:
    - {name: GREETING, value: hello-env}
`,
    );
    const s = await sidecar(['-f', file, '--filters-dir', nodeDir]);
    const res = await fetch(`${s.url}/x`);
    expect(res.headers.get('x-plugin')).toBe('from a WasmPlugin');
    await res.text();
    await s.waitForLog((l) => typeof l.msg === 'string' && l.msg.includes('GREETING=hello-env'));
  });

  it('applies the failure strategy when the sha256 does not match (FAIL_CLOSE: 503, FAIL_OPEN: through)', async () => {
    const wp = (strategy: string) => `
apiVersion: extensions.istio.io/v1alpha1
kind: WasmPlugin
metadata: {name: pinned}
spec:
  url: file://${join(nodeDir, `${HEX}.wasm`)}
  sha256: "${'0'.repeat(64)}"
  failStrategy: ${strategy}
`;
    const closed = await sidecar(['-f', await yamlFile('closed.yaml', wp('FAIL_CLOSE'))]);
    const denied = await fetch(`${closed.url}/x`);
    expect(denied.status).toBe(503);
    expect(await denied.text()).toContain('filter "pinned"');
    await closed.waitForLog((l) => String(l.err ?? '').includes(`not the pinned ${'0'.repeat(64)}`));
    const open = await sidecar(['-f', await yamlFile('open.yaml', wp('FAIL_OPEN'))]);
    const through = await fetch(`${open.url}/x`);
    expect(through.status).toBe(200);
    expect(await through.text()).toContain('upstream saw GET /x');
  });

  it('refuses a wrong file with an error naming the field, and a missing module with a hint', async () => {
    const bad = await yamlFile(
      'bad.yaml',
      'apiVersion: extensions.istio.io/v1alpha1\nkind: WasmPlugin\nmetadata: {name: w}\nspec: {url: "file:///a.wasm", phase: LATER}\n',
    );
    const failed = await run(process.execPath, [bin, 'run', '--upstream', upstream.url, '-f', bad]).catch(
      (e: { code: number; stderr: string }) => e,
    );
    expect(failed).toMatchObject({ code: expect.any(Number) as number });
    expect((failed as { stderr: string }).stderr).toContain(
      `${bad}: document 1 (WasmPlugin "w"): spec.phase is "LATER"`,
    );

    const missing = await yamlFile(
      'missing.yaml',
      'kind: WasmPlugin\nmetadata: {name: m}\nspec: {url: "file:///var/local/lib/wasm-filters/nope.wasm"}\n',
    );
    const noModule = await run(process.execPath, [
      bin,
      'run',
      '--upstream',
      upstream.url,
      '-f',
      missing,
      '--filters-dir',
      nodeDir,
    ]).catch((e: { stderr: string }) => e);
    expect((noModule as { stderr: string }).stderr).toContain(
      `filter "m": module file ${join(nodeDir, 'nope.wasm')} does not exist`,
    );
  });
});
