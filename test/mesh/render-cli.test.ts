import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { writeFileSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseAllDocuments } from 'yaml';
import { renderFilterDeployment } from '../../src/mesh/index.js';
import { startRegistry, type TestRegistry } from '../support/registry.js';
import { DIGEST, seedFilterDeployment } from './fixtures.js';

const bin = fileURLToPath(new URL('../../bin/meshwasm.js', import.meta.url));
const seedFile = fileURLToPath(new URL('../golden/filter.yaml', import.meta.url));

function meshwasm(args: string[], input?: string): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = execFile(process.execPath, [bin, ...args], { encoding: 'utf8' }, (err, stdout, stderr) => {
      resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr });
    });
    if (input !== undefined) child.stdin!.end(input);
  });
}

function expected() {
  // The CLI renders the node gate by default, as the controller applies it by default.
  const r = renderFilterDeployment(seedFilterDeployment(), DIGEST, { nodeGate: true });
  if (!r.ok) throw new Error('seed does not render');
  return r.value;
}

describe('meshwasm render', () => {
  it('prints the EnvoyFilter and the workload patch as YAML, offline with --digest', async () => {
    const { code, stdout, stderr } = await meshwasm(['render', '-f', seedFile, '--digest', DIGEST]);
    expect(stderr).toBe('');
    expect(code).toBe(0);
    const docs = parseAllDocuments(stdout).map((d) => d.toJSON());
    expect(docs).toEqual([expected().envoyFilter, expected().workload.patch]);
    expect(stdout).toContain('# JSON merge patch for every Deployment in namespace default');
    const label = 'filters.wasm.meshwasm.io/default.details-v1-wasmfiltersample';
    expect(
      docs[1].spec.template.spec.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution,
    ).toEqual({
      nodeSelectorTerms: [{ matchExpressions: [{ key: label, operator: 'Exists' }] }],
    });
    expect(stdout).toContain(`nodes the controller has labelled ${label}`);
  });

  it('leaves the node affinity out with --no-node-gate, as a controller run with --no-node-gate does', async () => {
    const { code, stdout } = await meshwasm(['render', '-f', seedFile, '--digest', DIGEST, '--no-node-gate']);
    expect(code).toBe(0);
    const docs = parseAllDocuments(stdout).map((d) => d.toJSON());
    const plain = renderFilterDeployment(seedFilterDeployment(), DIGEST);
    if (!plain.ok) throw new Error('seed does not render');
    expect(docs[1]).toEqual(plain.value.workload.patch);
    expect(docs[1].spec.template.spec).toBeUndefined();
    expect(stdout).not.toContain('node gate');
  });

  it('prints JSON with --output json, and reads stdin', async () => {
    const { code, stdout } = await meshwasm(
      ['render', '-f', '-', '--digest', DIGEST, '--output', 'json'],
      JSON.stringify(seedFilterDeployment()),
    );
    expect(code).toBe(0);
    const out = JSON.parse(stdout);
    expect(out.items).toHaveLength(1);
    expect(out.items[0].envoyFilter).toEqual(expected().envoyFilter);
    expect(out.items[0].pinnedImage).toBe(expected().pinnedImage);
    expect(out.items[0].workload.patch).toEqual(expected().workload.patch);
  });

  it('fails naming the field for an invalid CR, and writes nothing to stdout', async () => {
    const bad = JSON.stringify({
      ...seedFilterDeployment(),
      spec: { ...seedFilterDeployment().spec, workload: { kind: 'Job', labels: { a: 'b' } } },
    });
    const { code, stdout, stderr } = await meshwasm(['render', '-f', '-', '--digest', DIGEST], bad);
    expect(code).toBe(1);
    expect(stdout).toBe('');
    expect(stderr).toContain('spec.workload.kind');
  });

  it('renders a WasmPlugin offline with --mesh-config WasmPlugin, with the module sha256 from --sha256', async () => {
    const sha = `sha256:${'ab'.repeat(32)}`;
    const { code, stdout, stderr } = await meshwasm([
      'render',
      '-f',
      seedFile,
      '--digest',
      DIGEST,
      '--mesh-config',
      'WasmPlugin',
      '--sha256',
      sha,
    ]);
    expect(stderr).toBe('');
    expect(code).toBe(0);
    const r = renderFilterDeployment(seedFilterDeployment(), DIGEST, {
      defaultMeshConfig: 'WasmPlugin',
      moduleSha256: sha,
      nodeGate: true,
    });
    if (!r.ok) throw new Error('seed does not render');
    const docs = parseAllDocuments(stdout).map((d) => d.toJSON());
    expect(docs).toEqual([r.value.wasmPlugin, r.value.workload.patch]);
    expect(stdout).toContain('# WasmPlugin for ASMFilterDeployment default/details-v1-wasmfiltersample');
    expect(docs[0].spec.sha256).toBe('ab'.repeat(32));
  });

  it('says when an offline WasmPlugin carries no sha256, and takes spec.meshConfig from the CR', async () => {
    const cr = seedFilterDeployment();
    cr.spec.meshConfig = 'WasmPlugin';
    const { code, stdout, stderr } = await meshwasm(
      ['render', '-f', '-', '--digest', DIGEST, '-o', 'json'],
      JSON.stringify(cr),
    );
    expect(code).toBe(0);
    expect(stderr).toContain('carries no sha256 (pass --sha256');
    const item = JSON.parse(stdout).items[0];
    expect(item.envoyFilter).toBeUndefined();
    expect(item.wasmPlugin.spec.sha256).toBeUndefined();
    expect(item.wasmPlugin.spec.url).toBe(`file:///var/local/lib/wasm-filters/${DIGEST.slice(7)}.wasm`);
  });

  it('rejects a --sha256 that is not a digest, and an unknown --mesh-config, as usage errors', async () => {
    const sha = await meshwasm(['render', '-f', seedFile, '--digest', DIGEST, '--sha256', 'abc']);
    expect(sha.code).toBe(2);
    expect(sha.stderr).toMatch(/--sha256: "abc" is not a sha256 digest/);
    const kind = await meshwasm(['render', '-f', seedFile, '--digest', DIGEST, '--mesh-config', 'Lua']);
    expect(kind.code).toBe(2);
    expect(kind.stderr).toMatch(/EnvoyFilter, WasmPlugin/);
  });

  it('rejects a --digest that is not a digest as a usage error', async () => {
    const { code, stderr } = await meshwasm(['render', '-f', seedFile, '--digest', 'v0.1']);
    expect(code).toBe(2);
    expect(stderr).toMatch(/--digest: "v0.1" is not a manifest digest/);
  });

  it('says a digest is required when the registry cannot be reached', async () => {
    const file = join(mkdtempSync(join(tmpdir(), 'meshwasm-render-')), 'filter.yaml');
    writeFileSync(
      file,
      JSON.stringify({
        ...seedFilterDeployment(),
        spec: {
          ...seedFilterDeployment().spec,
          filter: { ...seedFilterDeployment().spec.filter, image: '127.0.0.1:1/asm/asm-test:v0.1' },
        },
      }),
    );
    const { code, stdout, stderr } = await meshwasm(['render', '-f', file, '--plain-http']);
    expect(code).not.toBe(0);
    expect(stdout).toBe('');
    expect(stderr).toMatch(/needs the manifest digest/);
    expect(stderr).toMatch(/--digest/);
  });

  describe('without --digest, against a real registry', () => {
    let registry: TestRegistry;
    beforeAll(async () => {
      registry = await startRegistry();
    });
    afterAll(async () => {
      await registry?.destroy();
    });

    it('resolves the tag to the manifest digest the push reported', async () => {
      const dir = mkdtempSync(join(tmpdir(), 'meshwasm-render-'));
      const module = join(dir, 'filter.wasm');
      writeFileSync(module, Buffer.from([0, 0x61, 0x73, 0x6d, 1, 0, 0, 0]));
      const image = `${registry.host}/asm/asm-test:v0.1`;
      const push = await meshwasm(['push', image, module, '--plain-http', '--output', 'json']);
      expect(push.code, push.stderr).toBe(0);
      const pushed: string = JSON.parse(push.stdout).digest;

      const cr = seedFilterDeployment();
      cr.spec.filter.image = image;
      const { code, stdout, stderr } = await meshwasm(
        ['render', '-f', '-', '--plain-http', '-o', 'json'],
        JSON.stringify(cr),
      );
      expect(code, stderr).toBe(0);
      expect(stderr).toContain(`Resolved ${image} to ${pushed}`);
      const item = JSON.parse(stdout).items[0];
      expect(item.pinnedImage).toBe(`${registry.host}/asm/asm-test@${pushed}`);
      expect(
        item.envoyFilter.spec.configPatches[0].patch.value.typed_config.config.vm_config.code.local.filename,
      ).toBe(`/var/local/lib/wasm-filters/${pushed.slice('sha256:'.length)}.wasm`);
    });

    it('reads the module sha256 for a WasmPlugin: the layer digest of a raw layer, the hashed module of a compat image', async () => {
      const dir = mkdtempSync(join(tmpdir(), 'meshwasm-render-'));
      const module = join(dir, 'filter.wasm');
      const bytes = Buffer.from([0, 0x61, 0x73, 0x6d, 1, 0, 0, 0]);
      writeFileSync(module, bytes);
      const sha = createHash('sha256').update(bytes).digest('hex');
      for (const format of ['artifact', 'compat']) {
        const image = `${registry.host}/asm/wp-${format}:v1`;
        const push = await meshwasm([
          'push',
          image,
          module,
          '--plain-http',
          '--format',
          format,
          '--output',
          'json',
        ]);
        expect(push.code, push.stderr).toBe(0);
        const pushed: string = JSON.parse(push.stdout).digest;
        const cr = seedFilterDeployment();
        cr.spec.filter.image = image;
        const { code, stdout, stderr } = await meshwasm(
          ['render', '-f', '-', '--plain-http', '-o', 'json', '--mesh-config', 'WasmPlugin'],
          JSON.stringify(cr),
        );
        expect(code, stderr).toBe(0);
        const wp = JSON.parse(stdout).items[0].wasmPlugin;
        expect(wp.metadata.annotations['wasm.meshwasm.io/digest']).toBe(pushed);
        expect(wp.spec.sha256).toBe(sha);
      }
    });
  });
});
