/**
 * The seed's own commands, run with the installed kubectl against the test API server: the pull secret,
 * the CRD and filter.yaml, re-applying changes (JSON merge patch for the custom resource, strategic merge
 * patch for a Deployment), reading back, deleting.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startKubeApiServer, type KubeApiServer } from '../support/kube-apiserver/index.js';

const run = promisify(execFile);
let server: KubeApiServer;
let dir: string;

async function kubectl(...args: string[]): Promise<string> {
  const { stdout } = await run('kubectl', ['--kubeconfig', server.kubeconfigPath, ...args], { cwd: dir });
  return stdout;
}

async function kubectlFails(...args: string[]): Promise<string> {
  try {
    await kubectl(...args);
  } catch (e) {
    return (e as { stderr: string }).stderr;
  }
  throw new Error(`kubectl ${args.join(' ')} succeeded`);
}

const root = join(import.meta.dirname, '..', '..');

beforeAll(async () => {
  server = await startKubeApiServer();
  dir = mkdtempSync(join(tmpdir(), 'meshwasm-kubectl-'));
});

afterAll(async () => {
  await server?.stop();
});

describe('kubectl against the test API server', () => {
  it("creates the seed's pull secret from a docker config file", async () => {
    await kubectl('create', 'namespace', 'istio-system');
    const config = '{"auths":{"registry.example.com":{"username":"user","password":"secret"}}}';
    writeFileSync(join(dir, 'myconfig.json'), config);
    const out = await kubectl(
      ...'create secret generic asmwasm-cache -n istio-system --from-file=.dockerconfigjson=myconfig.json --type=kubernetes.io/dockerconfigjson'.split(
        ' ',
      ),
    );
    expect(out.trim()).toBe('secret/asmwasm-cache created');
    const secret = JSON.parse(
      await kubectl('get', 'secret', 'asmwasm-cache', '-n', 'istio-system', '-o', 'json'),
    );
    expect(secret.type).toBe('kubernetes.io/dockerconfigjson');
    expect(Buffer.from(secret.data['.dockerconfigjson'], 'base64').toString()).toBe(config);
    const again = await kubectlFails(
      ...'create secret generic asmwasm-cache -n istio-system --from-file=.dockerconfigjson=myconfig.json --type=kubernetes.io/dockerconfigjson'.split(
        ' ',
      ),
    );
    expect(again).toContain('already exists');
  });

  it("applies the CRD and the seed's filter.yaml, then a change to it", async () => {
    expect(await kubectl('apply', '-f', join(root, 'deploy', 'crd.yaml'))).toContain(
      'customresourcedefinition.apiextensions.k8s.io/asmfilterdeployments.istio.alibabacloud.com created',
    );
    const filter = readFileSync(join(root, 'examples', 'header-filter', 'filter.yaml'), 'utf8');
    writeFileSync(join(dir, 'filter.yaml'), filter);
    expect((await kubectl('apply', '-f', 'filter.yaml')).trim()).toBe(
      'asmfilterdeployment.istio.alibabacloud.com/details-v1-wasmfiltersample created',
    );
    expect((await kubectl('apply', '-f', 'filter.yaml')).trim()).toBe(
      'asmfilterdeployment.istio.alibabacloud.com/details-v1-wasmfiltersample unchanged',
    );
    writeFileSync(join(dir, 'filter.yaml'), filter.replace('hello details', 'hello again'));
    expect((await kubectl('apply', '-f', 'filter.yaml')).trim()).toBe(
      'asmfilterdeployment.istio.alibabacloud.com/details-v1-wasmfiltersample configured',
    );
    const cr = JSON.parse(await kubectl('get', 'asmfd', 'details-v1-wasmfiltersample', '-o', 'json'));
    expect(cr.spec.filter.parameters).toBe('{"name":"hello","value":"hello again"}');
    expect(cr.spec.workload).toEqual({ kind: 'Deployment', labels: { app: 'details', version: 'v1' } });
    expect(cr.metadata.generation).toBe(2);
    expect(await kubectl('get', 'asmfilterdeployments', '-o', 'name')).toBe(
      'asmfilterdeployment.istio.alibabacloud.com/details-v1-wasmfiltersample\n',
    );
  });

  it('prints the CRD printer columns, patches status and waits for a condition', async () => {
    const table = await kubectl('get', 'asmfd');
    expect(table.split('\n')[0]!.split(/\s+/)).toEqual([
      'NAME',
      'WORKLOAD',
      'IMAGE',
      'READY',
      'REASON',
      'AGE',
    ]);
    expect(table).toContain('details-v1-wasmfiltersample   Deployment');
    const waiting = kubectl(
      'wait',
      '--for=condition=Ready',
      'asmfd/details-v1-wasmfiltersample',
      '--timeout=20s',
    );
    const status = {
      conditions: [
        {
          type: 'Ready',
          status: 'True',
          reason: 'Applied',
          message: 'ok',
          lastTransitionTime: '2026-01-01T00:00:00Z',
        },
      ],
    };
    await kubectl(
      'patch',
      'asmfd',
      'details-v1-wasmfiltersample',
      '--subresource=status',
      '--type=merge',
      '-p',
      JSON.stringify({ status }),
    );
    expect((await waiting).trim()).toBe(
      'asmfilterdeployment.istio.alibabacloud.com/details-v1-wasmfiltersample condition met',
    );
    expect(await kubectl('get', 'asmfd', 'details-v1-wasmfiltersample', '--no-headers')).toMatch(
      /\sTrue\s+Applied\s/,
    );
  });

  it('describes a custom resource with its Events', async () => {
    const cr = JSON.parse(await kubectl('get', 'asmfd', 'details-v1-wasmfiltersample', '-o', 'json'));
    const event = {
      apiVersion: 'v1',
      kind: 'Event',
      metadata: { name: 'details.1', namespace: 'default' },
      involvedObject: {
        apiVersion: cr.apiVersion,
        kind: cr.kind,
        name: cr.metadata.name,
        namespace: 'default',
        uid: cr.metadata.uid,
      },
      type: 'Warning',
      reason: 'DistributionTimeout',
      message: 'node-b does not have the module',
      count: 1,
      firstTimestamp: new Date().toISOString().replace(/\.\d{3}Z$/, 'Z'),
      lastTimestamp: new Date().toISOString().replace(/\.\d{3}Z$/, 'Z'),
      source: { component: 'meshwasm-controller' },
    };
    writeFileSync(join(dir, 'event.json'), JSON.stringify(event));
    await kubectl('create', '-f', 'event.json');
    const described = await kubectl('describe', 'asmfd', 'details-v1-wasmfiltersample');
    expect(described).toMatch(/Name:\s+details-v1-wasmfiltersample/);
    expect(described).toMatch(/Warning\s+DistributionTimeout\s+.*node-b does not have the module/);
  });

  it('re-applies a Deployment with a strategic merge patch', async () => {
    const deployment = (image: string, env: string) => `apiVersion: apps/v1
kind: Deployment
metadata:
  name: details-v1
  labels: {app: details}
spec:
  selector: {matchLabels: {app: details, version: v1}}
  template:
    metadata:
      labels: {app: details, version: v1}
    spec:
      containers:
      - name: details
        image: ${image}
        env: [{name: A, value: "${env}"}]
`;
    writeFileSync(join(dir, 'deployment.yaml'), deployment('details:1', '1'));
    await kubectl('apply', '-f', 'deployment.yaml');
    // Someone else adds an annotation to the pod template; apply must keep it (three-way merge).
    await kubectl(
      'patch',
      'deployment',
      'details-v1',
      '--type',
      'merge',
      '-p',
      '{"spec":{"template":{"metadata":{"annotations":{"x":"y"}}}}}',
    );
    writeFileSync(join(dir, 'deployment.yaml'), deployment('details:2', '2'));
    expect((await kubectl('apply', '-f', 'deployment.yaml')).trim()).toBe(
      'deployment.apps/details-v1 configured',
    );
    const d = JSON.parse(await kubectl('get', 'deployment', 'details-v1', '-o', 'json'));
    expect(d.spec.template.spec.containers).toEqual([
      { name: 'details', image: 'details:2', env: [{ name: 'A', value: '2' }] },
    ]);
    expect(d.spec.template.metadata.annotations).toEqual({ x: 'y' });
  });

  it('reports validation errors from the CRD schema and deletes with kubectl', async () => {
    writeFileSync(
      join(dir, 'bad.yaml'),
      'apiVersion: istio.alibabacloud.com/v1beta1\nkind: ASMFilterDeployment\nmetadata: {name: bad}\nspec: {workload: {kind: Deployment, labels: {a: b}}, filter: {image: x, nonsense: 1}}\n',
    );
    expect(await kubectlFails('apply', '-f', 'bad.yaml')).toContain('unknown field');
    expect((await kubectl('delete', '-f', 'filter.yaml')).trim()).toBe(
      'asmfilterdeployment.istio.alibabacloud.com "details-v1-wasmfiltersample" deleted',
    );
    expect(await kubectl('get', 'asmfd', '-o', 'name')).toBe('');
  });
});
