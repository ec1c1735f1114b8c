/**
 * WasmPlugin mode end to end: the real controller and a real node agent against the test API server and
 * the real registry. A CR asking for a WasmPlugin on a cluster without the CRD says so; once the CRD is
 * served, the WasmPlugin appears only after the agent holds the module, passes Istio's schema, names the
 * node file and carries the module's sha256; switching the CR to EnvoyFilter swaps the objects.
 */
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { WasmPlugin as WasmPluginModel } from '@kubernetes-models/istio/extensions.istio.io/v1alpha1/WasmPlugin';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseAllDocuments } from 'yaml';
import { startAgent, type RunningAgent } from '../../src/agent/index.js';
import type { RunningController } from '../../src/controller/index.js';
import { Resources, type KubeObject } from '../../src/kube/index.js';
import {
  envoyFilterName,
  wasmPluginName,
  type ASMFilterDeployment,
  type WasmPlugin,
} from '../../src/mesh/index.js';
import { createLogger } from '../../src/log.js';
import { startRegistry, type TestRegistry } from '../support/registry.js';
import { moduleWithCustomSection } from '../support/wasm-fixtures.js';
import { agentPod, setupCluster, startTestController, until, type TestCluster } from './cluster.js';
import { pushModule } from './images.js';

type CR = KubeObject & ASMFilterDeployment;
let cluster: TestCluster;
let registry: TestRegistry;
let controller: RunningController | undefined;
let agent: RunningAgent | undefined;
let dir: string;

const getCr = () => cluster.client.get<CR>(Resources.filterDeployments, cluster.apps, 'wp');
const getWp = () =>
  cluster.client.find<KubeObject & WasmPlugin>(Resources.wasmPlugins, cluster.apps, wasmPluginName('wp'));
const getEf = () => cluster.client.find(Resources.envoyFilters, cluster.apps, envoyFilterName('wp'));
const ready = (cr: CR) => cr.status?.conditions?.find((c) => c.type === 'Ready');

beforeAll(async () => {
  cluster = await setupCluster();
  registry = await startRegistry();
  dir = mkdtempSync(join(tmpdir(), 'meshwasm-wp-'));
  await agentPod(cluster, 'node-wp', []);
  controller = await startTestController(cluster);
}, 180_000);

afterAll(async () => {
  await controller?.stop();
  await agent?.stop();
  await registry?.destroy();
  await cluster?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('WasmPlugin mode', () => {
  it('waits for the CRD and the agent, then applies a WasmPlugin Istio accepts; a switch back swaps it for an EnvoyFilter', async () => {
    if (!cluster.server) return; // a real cluster cannot drop and re-add Istio's CRDs for a test
    const digest = await pushModule(registry.url, 'asm/wp', 'v1', 'wp');
    const moduleSha = createHash('sha256').update(moduleWithCustomSection(256, 'wp')).digest('hex');
    await cluster.client.create(Resources.filterDeployments, {
      apiVersion: 'istio.alibabacloud.com/v1beta1',
      kind: 'ASMFilterDeployment',
      metadata: { name: 'wp', namespace: cluster.apps },
      spec: {
        meshConfig: 'WasmPlugin',
        workload: { kind: 'Deployment', labels: { app: 'wp' } },
        filter: {
          image: `${registry.host}/asm/wp:v1`,
          rootID: 'my_root_id',
          parameters: '{"header":"x-wp"}',
          patchContext: 'SIDECAR_OUTBOUND',
          failOpen: true,
        },
      },
    });
    // No WasmPlugin CRD yet: the CR says so.
    const unserved = await until(async () => {
      const cr = await getCr();
      return ready(cr)?.reason === 'MeshConfigUnavailable' ? cr : undefined;
    }, 'MeshConfigUnavailable');
    expect(ready(unserved)!.message).toContain('does not serve WasmPlugin (extensions.istio.io/v1alpha1)');

    // The CRD appears; the agent has not started, so the controller waits for the node.
    const crd = parseAllDocuments(
      readFileSync(join(import.meta.dirname, 'wasmplugin-crd.yaml'), 'utf8'),
    )[0]!.toJS() as KubeObject;
    await cluster.client.create(Resources.crds, crd);
    await until(async () => ready(await getCr())?.reason === 'Distributing', 'Distributing', 60_000);
    expect(await getWp()).toBeUndefined();

    agent = await startAgent({
      dir,
      kubeconfig: cluster.kubeconfigPath,
      namespace: cluster.system,
      podName: 'agent-node-wp',
      podNamespace: cluster.system,
      plainHttp: true,
      jitterMs: 0,
      retryBaseMs: 100,
      retryMaxMs: 1000,
      log: createLogger('agent', 'silent'),
    });
    const wp = await until(getWp, 'the WasmPlugin', 60_000);
    const hex = digest.slice('sha256:'.length);
    // By then the node holds the file the WasmPlugin names.
    expect(readFileSync(join(dir, `${hex}.wasm`)).equals(moduleWithCustomSection(256, 'wp'))).toBe(true);
    expect(wp.spec).toEqual({
      selector: { matchLabels: { app: 'wp' } },
      url: `file:///var/local/lib/wasm-filters/${hex}.wasm`,
      sha256: moduleSha,
      pluginName: 'my_root_id',
      pluginConfig: { header: 'x-wp' },
      failStrategy: 'FAIL_OPEN',
      match: [{ mode: 'CLIENT' }],
      type: 'HTTP',
    });
    const { name, namespace, labels, annotations, ownerReferences } = wp.metadata;
    const istio = new WasmPluginModel({
      metadata: { name, namespace, labels, annotations, ownerReferences },
      spec: wp.spec,
    });
    expect(() => istio.validate()).not.toThrow();
    expect(await getEf()).toBeUndefined();
    await until(async () => ready(await getCr())?.status === 'True', 'Ready');
    expect(ready(await getCr())!.message).toContain(`WasmPlugin ${wasmPluginName('wp')} loads ${digest}`);

    // Switched to EnvoyFilter: the same module, so the EnvoyFilter replaces the WasmPlugin at once.
    await cluster.client.patch(Resources.filterDeployments, cluster.apps, 'wp', {
      spec: { meshConfig: 'EnvoyFilter' },
    });
    await until(getEf, 'the EnvoyFilter');
    await until(async () => (await getWp()) === undefined, 'the WasmPlugin to go');

    // Deleted: nothing of it is left.
    await cluster.client.delete(Resources.filterDeployments, cluster.apps, 'wp');
    await until(async () => (await getEf()) === undefined, 'the EnvoyFilter to go');
  });
});
