/**
 * Private registries: the controller resolves tags with the credentials of the seed's pull secret,
 * created with the seed's own kubectl command, and picks up a secret that appears later.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunningController } from '../../src/controller/index.js';
import { Resources, type KubeObject } from '../../src/kube/index.js';
import type { ASMFilterDeployment } from '../../src/mesh/index.js';
import { OciSession, pushWasm } from '../../src/oci/index.js';
import { startRegistry, type TestRegistry } from '../support/registry.js';
import { moduleWithCustomSection } from '../support/wasm-fixtures.js';
import { agentPod, setupCluster, startTestController, until, type TestCluster } from './cluster.js';

type CR = KubeObject & ASMFilterDeployment;
let cluster: TestCluster;
let registry: TestRegistry;
let controller: RunningController;
let work: string;
let digest: string;

beforeAll(async () => {
  cluster = await setupCluster();
  registry = await startRegistry({ auth: 'basic' });
  work = mkdtempSync(join(tmpdir(), 'meshwasm-secret-'));
  // The seed's myconfig.json shape: username and password per registry.
  writeFileSync(
    join(work, 'myconfig.json'),
    JSON.stringify({
      auths: { [registry.host]: { username: registry.username, password: registry.password } },
    }),
  );
  const modulePath = join(work, 'filter.wasm');
  writeFileSync(modulePath, moduleWithCustomSection(512, 'private'));
  const session = new OciSession({
    plainHttp: true,
    dockerConfigJson: JSON.stringify({
      auths: { [registry.host]: { username: registry.username, password: registry.password } },
    }),
  });
  const { target, selector } = await session.open(`${registry.host}/private/filter:v1`);
  digest = (await pushWasm(target, selector, modulePath)).descriptor.digest;
  await session.close();
  await agentPod(cluster, 'node-a', [digest]);
  controller = await startTestController(cluster, {
    transport: { plainHttp: true, maxAttempts: 1 },
    retryMaxMs: 500,
  });
}, 120_000);

afterAll(async () => {
  await controller?.stop();
  await registry?.destroy();
  await cluster?.stop();
});

describe('pull secret', () => {
  it('fails to resolve without credentials, then resolves with the secret created by the seed command', async () => {
    await cluster.client.create(Resources.filterDeployments, {
      apiVersion: 'istio.alibabacloud.com/v1beta1',
      kind: 'ASMFilterDeployment',
      metadata: { name: 'private', namespace: cluster.apps },
      spec: {
        workload: { kind: 'Deployment', labels: { app: 'private' } },
        filter: { image: `${registry.host}/private/filter:v1`, rootID: 'r' },
      },
    });
    const cond = (cr: CR | undefined, type: string) => cr?.status?.conditions?.find((c) => c.type === type);
    const get = () => cluster.client.find<CR>(Resources.filterDeployments, cluster.apps, 'private');
    const denied = await until(async () => {
      const cr = await get();
      return cond(cr, 'ImageResolved')?.reason === 'ResolveFailed' ? cr : undefined;
    }, 'ResolveFailed without credentials');
    expect(cond(denied, 'ImageResolved')!.message).toMatch(/unauthori[sz]ed|401|credential/i);

    await promisify(execFile)(
      'kubectl',
      [
        '--kubeconfig',
        cluster.kubeconfigPath,
        ...`create secret generic asmwasm-cache -n ${cluster.system} --from-file=.dockerconfigjson=myconfig.json --type=kubernetes.io/dockerconfigjson`.split(
          ' ',
        ),
      ],
      { cwd: work },
    );
    const resolved = await until(async () => {
      const cr = await get();
      return cond(cr, 'Ready')?.status === 'True' ? cr : undefined;
    }, 'Ready with the pull secret');
    expect(resolved.status?.digest).toBe(digest);
    expect(cond(resolved, 'ImageResolved')?.reason).toBe('Resolved');
    // The password is nowhere in what the controller wrote.
    const events = await cluster.client.list(Resources.events, cluster.apps);
    expect(JSON.stringify([resolved, events])).not.toContain(registry.password);
  });
});
