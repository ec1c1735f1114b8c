/**
 * The node gate end to end: the real controller and two real node agents against the test API server and
 * the real registry. node-a's agent syncs at once; node-b's agent starts late. A pod of the filtered
 * workload that can only go to node-b stays Pending until node-b's agent holds the module and the
 * controller has labelled node-b; a pod of another workload goes there at once. Deleting the CR removes
 * the labels and the workload's node affinity.
 */
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startAgent, type RunningAgent } from '../../src/agent/index.js';
import type { RunningController } from '../../src/controller/index.js';
import { Resources, type KubeObject } from '../../src/kube/index.js';
import { nodeLabelKey, type ASMFilterDeployment } from '../../src/mesh/index.js';
import { createLogger } from '../../src/log.js';
import { startRegistry, type TestRegistry } from '../support/registry.js';
import { schedulePending } from '../support/scheduler.js';
import { agentPod, setupCluster, startTestController, until, type TestCluster } from './cluster.js';
import { pushModule } from './images.js';

type CR = KubeObject & ASMFilterDeployment;
type Obj = KubeObject & Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any
let cluster: TestCluster;
let registry: TestRegistry;
let controller: RunningController | undefined;
const agents: RunningAgent[] = [];
const dirs: Record<string, string> = {};

const runAgent = async (node: string) => {
  dirs[node] = mkdtempSync(join(tmpdir(), `meshwasm-gate-${node}-`));
  agents.push(
    await startAgent({
      dir: dirs[node],
      kubeconfig: cluster.kubeconfigPath,
      namespace: cluster.system,
      podName: `agent-${node}`,
      podNamespace: cluster.system,
      plainHttp: true,
      jitterMs: 0,
      retryBaseMs: 100,
      retryMaxMs: 1000,
      port: 0,
      host: '127.0.0.1',
      log: createLogger('agent', 'silent'),
    }),
  );
};
const node = (name: string) => cluster.client.get<Obj>(Resources.nodes, undefined, name);
const pod = (name: string) => cluster.client.get<Obj>(Resources.pods, cluster.apps, name);
const podOf = (name: string, template: Obj, onNode: string) =>
  cluster.client.create(Resources.pods, {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name, namespace: cluster.apps, labels: template.metadata?.labels },
    // What the ReplicaSet controller would create, plus a nodeSelector that leaves only `onNode`.
    spec: { ...template.spec, nodeSelector: { 'kubernetes.io/hostname': onNode } },
  });

beforeAll(async () => {
  cluster = await setupCluster();
  if (!cluster.server) return;
  registry = await startRegistry();
  for (const name of ['node-a', 'node-b'])
    await cluster.client.create(Resources.nodes, {
      apiVersion: 'v1',
      kind: 'Node',
      metadata: { name, labels: { 'kubernetes.io/hostname': name } },
    });
  await agentPod(cluster, 'node-a', []);
  await runAgent('node-a');
  controller = await startTestController(cluster);
}, 180_000);

afterAll(async () => {
  await controller?.stop();
  for (const a of agents) await a.stop();
  await registry?.destroy();
  await cluster?.stop();
  for (const d of Object.values(dirs)) rmSync(d, { recursive: true, force: true });
});

describe('the node gate', () => {
  it('keeps a filtered pod off a node until that node holds the module; other pods are not held', async () => {
    if (!cluster.server) return; // needs node objects and the stand-in scheduler of the test API server
    const key = nodeLabelKey(cluster.apps, 'gated');
    const digest = await pushModule(registry.url, 'asm/gated', 'v1', 'gated');
    const hex = digest.slice('sha256:'.length);
    for (const app of ['gated', 'other'])
      await cluster.client.create(Resources.deployments, {
        apiVersion: 'apps/v1',
        kind: 'Deployment',
        metadata: { name: app, namespace: cluster.apps },
        spec: {
          replicas: 0,
          selector: { matchLabels: { app } },
          template: {
            metadata: { labels: { app } },
            spec: { containers: [{ name: 'app', image: 'registry.k8s.io/pause:3.9' }] },
          },
        },
      });
    await cluster.client.create(Resources.filterDeployments, {
      apiVersion: 'istio.alibabacloud.com/v1beta1',
      kind: 'ASMFilterDeployment',
      metadata: { name: 'gated', namespace: cluster.apps },
      spec: {
        workload: { kind: 'Deployment', labels: { app: 'gated' } },
        filter: { image: `${registry.host}/asm/gated:v1`, rootID: 'my_root_id', parameters: '{}' },
      },
    });

    // node-a's agent holds the module: the CR is Ready, node-a carries the label, node-b does not.
    await until(async () => {
      const cr = await cluster.client.get<CR>(Resources.filterDeployments, cluster.apps, 'gated');
      return cr.status?.conditions?.find((c) => c.type === 'Ready')?.status === 'True';
    }, 'Ready');
    expect((await node('node-a')).metadata.labels?.[key]).toBe('true');
    expect((await node('node-b')).metadata.labels?.[key]).toBeUndefined();
    const gated = await cluster.client.get<Obj>(Resources.deployments, cluster.apps, 'gated');
    expect(
      gated.spec.template.spec.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution,
    ).toEqual({ nodeSelectorTerms: [{ matchExpressions: [{ key, operator: 'Exists' }] }] });
    const other = await cluster.client.get<Obj>(Resources.deployments, cluster.apps, 'other');
    expect(other.spec.template.spec.affinity).toBeUndefined();

    // Pods that can only go to node-b: the filtered one waits, the other one is scheduled.
    await podOf('gated-1', gated.spec.template, 'node-b');
    await podOf('other-1', other.spec.template, 'node-b');
    expect([...(await schedulePending(cluster.client, cluster.apps))]).toEqual([['other-1', 'node-b']]);
    expect((await pod('gated-1')).spec.nodeName).toBeUndefined();

    // node-b's agent starts late (registered and Ready, holding nothing yet, then syncing).
    await agentPod(cluster, 'node-b', []);
    await runAgent('node-b');
    let where: string | undefined;
    let fileThere = false;
    await until(
      async () => {
        const bound = await schedulePending(cluster.client, cluster.apps);
        where = bound.get('gated-1');
        // The moment the scheduler may place it, the module is already on that node.
        if (where) fileThere = existsSync(join(dirs[where]!, `${hex}.wasm`));
        return where;
      },
      'gated-1 to be scheduled',
      60_000,
    );
    expect(where).toBe('node-b');
    expect(fileThere).toBe(true);
    expect((await node('node-b')).metadata.labels?.[key]).toBe('true');

    // The CR goes: labels and affinity go with it.
    await cluster.client.delete(Resources.filterDeployments, cluster.apps, 'gated');
    await until(async () => {
      const [a, b] = await Promise.all([node('node-a'), node('node-b')]);
      return a.metadata.labels?.[key] === undefined && b.metadata.labels?.[key] === undefined;
    }, 'labels removed');
    await until(async () => {
      const d = await cluster.client.get<Obj>(Resources.deployments, cluster.apps, 'gated');
      return !d.spec.template.spec.affinity?.nodeAffinity?.requiredDuringSchedulingIgnoredDuringExecution;
    }, 'affinity removed');
  });
});
