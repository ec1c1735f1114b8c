/**
 * `meshwasm install` and `uninstall` as a user runs them (the CLI as a process, kubectl alongside), against
 * the test Kubernetes API server, which speaks the real REST protocol to @kubernetes/client-node.
 * Set KUBECONFIG to run the same suite against a real cluster.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseAllDocuments } from 'yaml';
import { installManifests } from '../../src/mesh/index.js';
import { startKubeApiServer, type KubeApiServer } from '../support/kube-apiserver/index.js';

const bin = fileURLToPath(new URL('../../bin/meshwasm.js', import.meta.url));
const seedFile = fileURLToPath(new URL('../golden/filter.yaml', import.meta.url));

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

let server: KubeApiServer | undefined;
let kubeconfig: string;

function run(file: string, args: string[]): Promise<Run> {
  return new Promise((resolve) => {
    execFile(
      file,
      args,
      { encoding: 'utf8', env: { ...process.env, KUBECONFIG: kubeconfig } },
      (err, stdout, stderr) => {
        resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr });
      },
    );
  });
}
const meshwasm = (...args: string[]) => run(process.execPath, [bin, ...args]);
const kubectl = (...args: string[]) => run('kubectl', args);

async function kubectlJson(...args: string[]): Promise<{ items?: unknown[] } & Record<string, unknown>> {
  const r = await kubectl(...args, '-o', 'json');
  if (r.code !== 0) throw new Error(r.stderr);
  return JSON.parse(r.stdout);
}

async function exists(...args: string[]): Promise<boolean> {
  const r = await kubectl('get', ...args, '--ignore-not-found', '-o', 'name');
  if (r.code !== 0) throw new Error(r.stderr);
  return r.stdout.trim().length > 0;
}

/** A CR carrying the controller's finalizer, as the controller would leave it. */
function crWithFinalizer(name: string): string {
  const file = join(mkdtempSync(join(tmpdir(), 'meshwasm-cr-')), 'cr.yaml');
  writeFileSync(
    file,
    JSON.stringify({
      apiVersion: 'istio.alibabacloud.com/v1beta1',
      kind: 'ASMFilterDeployment',
      metadata: { name, namespace: 'default', finalizers: ['wasm.meshwasm.io/cleanup'] },
      spec: {
        workload: { kind: 'Deployment', labels: { app: name } },
        filter: { image: 'registry.example.com/filters/header:v1', parameters: '{}' },
      },
    }),
  );
  return file;
}

beforeAll(async () => {
  if (process.env.KUBECONFIG) {
    kubeconfig = process.env.KUBECONFIG;
  } else {
    server = await startKubeApiServer();
    kubeconfig = server.kubeconfigPath;
  }
});

afterAll(async () => {
  await server?.stop();
});

describe('meshwasm install --dry-run', () => {
  it('prints every install object without contacting the cluster', async () => {
    const before = server?.requestCount();
    const r = await meshwasm('install', '--dry-run');
    expect(r.code, r.stderr).toBe(0);
    expect(parseAllDocuments(r.stdout).map((d) => d.toJSON())).toEqual(installManifests());
    if (server) expect(server.requestCount()).toBe(before);
  });

  it('follows --namespace and --image, and prints a List with -o json', async () => {
    const r = await meshwasm(
      'install',
      '--dry-run',
      '-n',
      'mesh-ops',
      '--image',
      'r.example.com/meshwasm:dev',
      '-o',
      'json',
    );
    expect(r.code, r.stderr).toBe(0);
    const list = JSON.parse(r.stdout);
    expect(list.kind).toBe('List');
    expect(list.items).toEqual(
      installManifests({ namespace: 'mesh-ops', image: 'r.example.com/meshwasm:dev' }),
    );
  });
});

describe('meshwasm install and uninstall against an API server', () => {
  it('installs everything, creating the namespace, and the seed filter.yaml then applies with kubectl', async () => {
    const r = await meshwasm('install');
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(
      /customresourcedefinition\/asmfilterdeployments\.istio\.alibabacloud\.com (created|configured|unchanged)/,
    );
    for (const o of installManifests()) {
      const args = [
        o.kind.toLowerCase(),
        o.metadata.name,
        ...(o.metadata.namespace ? ['-n', o.metadata.namespace] : []),
      ];
      expect(await exists(...args), args.join(' ')).toBe(true);
    }
    const ds = await kubectlJson('get', 'daemonset', 'meshwasm-agent', '-n', 'istio-system');
    expect(JSON.stringify(ds)).toContain('DirectoryOrCreate');
    // The CRD keeps its full schema (enums, defaults) through the client: a wrong kind is refused.
    const crd = await kubectlJson('get', 'crd', 'asmfilterdeployments.istio.alibabacloud.com');
    expect(JSON.stringify(crd)).toContain('"enum":["Deployment","StatefulSet","DaemonSet"]');

    const applied = await kubectl('apply', '-f', seedFile);
    expect(applied.code, applied.stderr).toBe(0);
    const cr = await kubectlJson(
      'get',
      'asmfilterdeployment',
      'details-v1-wasmfiltersample',
      '-n',
      'default',
    );
    expect((cr.spec as { filter: { rootID: string } }).filter.rootID).toBe('my_root_id');
    const deleted = await kubectl('delete', '-f', seedFile);
    expect(deleted.code, deleted.stderr).toBe(0);
  });

  it('is idempotent, and keeps the images ConfigMap content the controller wrote', async () => {
    const patched = await kubectl(
      'patch',
      'configmap',
      'asmwasm-images',
      '-n',
      'istio-system',
      '--type=merge',
      '-p',
      JSON.stringify({ data: { images: `r.example.com/a@sha256:${'a'.repeat(64)}\n` } }),
    );
    expect(patched.code, patched.stderr).toBe(0);
    const r = await meshwasm('install');
    expect(r.code, r.stderr).toBe(0);
    const lines = r.stdout.split('\n').filter((l) => / (created|configured|unchanged)$/.test(l));
    expect(lines).toHaveLength(installManifests().length);
    expect(
      lines.every((l) => l.endsWith(' unchanged')),
      r.stdout,
    ).toBe(true);
    const cm = await kubectlJson('get', 'configmap', 'asmwasm-images', '-n', 'istio-system');
    expect((cm.data as { images: string }).images).toBe(`r.example.com/a@sha256:${'a'.repeat(64)}\n`);
  });

  it('updates what changed (a new image) and nothing else', async () => {
    const r = await meshwasm('install', '--image', 'r.example.com/meshwasm:0.2.0', '-o', 'json');
    expect(r.code, r.stderr).toBe(0);
    const changed = JSON.parse(r.stdout).results.filter(
      (x: { outcome: string }) => x.outcome !== 'unchanged',
    );
    expect(changed.map((x: { object: string }) => x.object).sort()).toEqual([
      'daemonset/meshwasm-agent -n istio-system',
      'deployment/meshwasm-controller -n istio-system',
    ]);
    const deploy = await kubectlJson('get', 'deployment', 'meshwasm-controller', '-n', 'istio-system');
    expect(JSON.stringify(deploy)).toContain('r.example.com/meshwasm:0.2.0');
  });

  it('uninstall refuses while ASMFilterDeployments exist, lists them, and removes nothing', async () => {
    const applied = await kubectl('apply', '-f', seedFile);
    expect(applied.code, applied.stderr).toBe(0);
    const r = await meshwasm('uninstall');
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('default/details-v1-wasmfiltersample');
    expect(r.stderr).toContain('--cascade');
    expect(await exists('deployment', 'meshwasm-controller', '-n', 'istio-system')).toBe(true);
    expect(await exists('crd', 'asmfilterdeployments.istio.alibabacloud.com')).toBe(true);
  });

  it('uninstall --cascade times out clearly when nothing clears the finalizers, removing nothing else', async () => {
    const applied = await kubectl('apply', '-f', crWithFinalizer('stuck'));
    expect(applied.code, applied.stderr).toBe(0);
    const r = await meshwasm('uninstall', '--cascade', '--timeout', '1s');
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(
      /timed out after 1s waiting for the cleanup of default\/stuck \(finalizers: wasm\.meshwasm\.io\/cleanup\)/,
    );
    expect(await exists('deployment', 'meshwasm-controller', '-n', 'istio-system')).toBe(true);
    // Finish that cleanup, so the next test starts from CRs that are not being deleted yet.
    const p = await kubectl(
      'patch',
      'asmfilterdeployment',
      'stuck',
      '-n',
      'default',
      '--type=merge',
      '-p',
      '{"metadata":{"finalizers":null}}',
    );
    expect(p.code, p.stderr).toBe(0);
  });

  it('uninstall --cascade deletes the CRs, waits for their finalizers, then removes everything', async () => {
    for (const file of [seedFile, crWithFinalizer('pending')]) {
      const applied = await kubectl('apply', '-f', file);
      expect(applied.code, applied.stderr).toBe(0);
    }
    let settled = false;
    const pending = meshwasm('uninstall', '--cascade', '--timeout', '60s').finally(() => (settled = true));
    // Play the controller's part: once the CR is being deleted, finish its cleanup and drop the finalizer.
    while (!settled) {
      const cr = await kubectl(
        'get',
        'asmfilterdeployment',
        'pending',
        '-n',
        'default',
        '-o',
        'json',
        '--ignore-not-found',
      );
      if (cr.stdout.trim() === '') break;
      if (JSON.parse(cr.stdout).metadata.deletionTimestamp) {
        const p = await kubectl(
          'patch',
          'asmfilterdeployment',
          'pending',
          '-n',
          'default',
          '--type=merge',
          '-p',
          '{"metadata":{"finalizers":null}}',
        );
        expect(p.code, p.stderr).toBe(0);
        break;
      }
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    const r = await pending;
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain('asmfilterdeployment/pending -n default deleted');
    expect(r.stdout).toContain('asmfilterdeployment/details-v1-wasmfiltersample -n default deleted');
    for (const o of installManifests()) {
      const args = [
        o.kind.toLowerCase(),
        o.metadata.name,
        ...(o.metadata.namespace ? ['-n', o.metadata.namespace] : []),
      ];
      expect(await exists(...args), args.join(' ')).toBe(false);
    }
    // The namespace (usually Istio's) stays.
    expect(await exists('namespace', 'istio-system')).toBe(true);
  });

  it('uninstall on a cluster without meshwasm succeeds and reports what was not found', async () => {
    const r = await meshwasm('uninstall', '-o', 'json');
    expect(r.code, r.stderr).toBe(0);
    const results = JSON.parse(r.stdout).results as Array<{ outcome: string }>;
    expect(results).toHaveLength(installManifests().length);
    expect(results.every((x) => x.outcome === 'not found')).toBe(true);
  });

  it('kubectl apply -k deploy/ installs the same objects: meshwasm install then finds nothing to change', async () => {
    const deployDir = fileURLToPath(new URL('../../deploy/', import.meta.url));
    const applied = await kubectl('apply', '-k', deployDir);
    expect(applied.code, applied.stderr).toBe(0);
    const r = await meshwasm('install', '-o', 'json');
    expect(r.code, r.stderr).toBe(0);
    const results = JSON.parse(r.stdout).results as Array<{ object: string; outcome: string }>;
    expect(results.filter((x) => x.outcome !== 'unchanged')).toEqual([]);
    const deleted = await kubectl('delete', '-k', deployDir);
    expect(deleted.code, deleted.stderr).toBe(0);
    expect(await exists('daemonset', 'meshwasm-agent', '-n', 'istio-system')).toBe(false);
  });

  const kubeconfigFor = (cluster: string) => {
    const file = join(mkdtempSync(join(tmpdir(), 'meshwasm-kc-')), 'kubeconfig');
    writeFileSync(
      file,
      `apiVersion: v1\nkind: Config\nclusters:\n- name: c\n  cluster: ${cluster}\nusers:\n- name: u\n  user: {}\ncontexts:\n- name: x\n  context: {cluster: c, user: u}\ncurrent-context: x\n`,
    );
    return file;
  };

  it('fails with a clear error when the API server cannot be reached', async () => {
    const r = await meshwasm('install', '--kubeconfig', kubeconfigFor('{server: https://127.0.0.1:1}'));
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/cannot reach the API server at https:\/\/127\.0\.0\.1:1 \(.*ECONNREFUSED/);
    expect(r.stderr).toContain('hint:');
  });

  it('explains a plain-HTTP API server that the kubeconfig does not mark insecure', async () => {
    const r = await meshwasm('install', '--kubeconfig', kubeconfigFor('{server: http://127.0.0.1:1}'));
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/http:\/\/127\.0\.0\.1:1 is plain HTTP/);
    expect(r.stderr).toContain('insecure-skip-tls-verify');
  });
});
