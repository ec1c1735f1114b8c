/**
 * The distribution contract end to end: the real controller and a real node agent (in cluster mode,
 * reporting on its own pod) against the same API server and the real registry. The EnvoyFilter appears
 * only after the agent has written the module to its directory and listed it on its pod.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startAgent, type RunningAgent } from '../../src/agent/index.js';
import type { RunningController } from '../../src/controller/index.js';
import { Resources, type KubeObject } from '../../src/kube/index.js';
import {
  IMAGES_CONFIGMAP_NAME,
  MODULES_ANNOTATION,
  envoyFilterName,
  type ASMFilterDeployment,
} from '../../src/mesh/index.js';
import { createLogger } from '../../src/log.js';
import { startRegistry, type TestRegistry } from '../support/registry.js';
import { moduleWithCustomSection } from '../support/wasm-fixtures.js';
import { agentPod, setupCluster, startTestController, until, type TestCluster } from './cluster.js';
import { pushModule } from './images.js';

type CR = KubeObject & ASMFilterDeployment;
type EF = KubeObject & {
  spec: {
    configPatches: {
      patch: {
        value: { typed_config: { config: { vm_config: { code: { local: { filename: string } } } } } };
      };
    }[];
  };
};
let cluster: TestCluster;
let registry: TestRegistry;
let controller: RunningController | undefined;
let agent: RunningAgent | undefined;
let dir: string;

beforeAll(async () => {
  cluster = await setupCluster();
  registry = await startRegistry();
  dir = mkdtempSync(join(tmpdir(), 'meshwasm-e2e-'));
  await agentPod(cluster, 'node-e2e', []);
  agent = await startAgent({
    dir,
    kubeconfig: cluster.kubeconfigPath,
    namespace: cluster.system,
    podName: 'agent-node-e2e',
    podNamespace: cluster.system,
    plainHttp: true,
    jitterMs: 0,
    retryBaseMs: 100,
    retryMaxMs: 1000,
    port: 0,
    host: '127.0.0.1',
    log: createLogger('agent', 'silent'),
  });
  controller = await startTestController(cluster);
}, 180_000);

afterAll(async () => {
  await controller?.stop();
  await agent?.stop();
  await registry?.destroy();
  await cluster?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('controller and node agent together', () => {
  it('applies the EnvoyFilter once the agent holds the module the controller asked for', async () => {
    const digest = await pushModule(registry.url, 'asm/e2e', 'v1', 'e2e');
    await cluster.client.create(Resources.filterDeployments, {
      apiVersion: 'istio.alibabacloud.com/v1beta1',
      kind: 'ASMFilterDeployment',
      metadata: { name: 'e2e', namespace: cluster.apps },
      spec: {
        workload: { kind: 'Deployment', labels: { app: 'e2e' } },
        filter: { image: `${registry.host}/asm/e2e:v1`, rootID: 'my_root_id', parameters: '{}' },
      },
    });
    const ef = await until(
      () => cluster.client.find<EF>(Resources.envoyFilters, cluster.apps, envoyFilterName('e2e')),
      'the EnvoyFilter',
      60_000,
    );
    // By then the module is on the node, under the name the EnvoyFilter gives, with the pushed bytes.
    const hex = digest.slice('sha256:'.length);
    expect(ef.spec.configPatches[0]!.patch.value.typed_config.config.vm_config.code.local.filename).toBe(
      `/var/local/lib/wasm-filters/${hex}.wasm`,
    );
    expect(readFileSync(join(dir, `${hex}.wasm`)).equals(moduleWithCustomSection(256, 'e2e'))).toBe(true);
    const pod = await cluster.client.get(Resources.pods, cluster.system, 'agent-node-e2e');
    expect(JSON.parse(pod.metadata.annotations![MODULES_ANNOTATION]!)).toContain(digest);
    const images = await cluster.client.get<KubeObject & { data: Record<string, string> }>(
      Resources.configMaps,
      cluster.system,
      IMAGES_CONFIGMAP_NAME,
    );
    expect(images.data.images).toBe(`${registry.host}/asm/e2e@${digest}\n`);
    await until(async () => {
      const cr = await cluster.client.get<CR>(Resources.filterDeployments, cluster.apps, 'e2e');
      return cr.status?.conditions?.find((c) => c.type === 'Ready')?.status === 'True';
    }, 'Ready');
  });
});
