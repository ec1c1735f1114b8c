/**
 * The real controller, through the real client library over HTTP, against the test API server (or the
 * cluster named by KUBECONFIG), resolving tags in the real registry with the real OCI client.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  DIGEST_ANNOTATION,
  FINALIZER,
  IMAGES_CONFIGMAP_NAME,
  USER_VOLUME_ANNOTATION,
  USER_VOLUME_MOUNT_ANNOTATION,
  envoyFilterName,
  type ASMFilterDeployment,
} from '../../src/mesh/index.js';
import {
  startController,
  type ControllerOptions,
  type RunningController,
} from '../../src/controller/index.js';
import { Resources, type KubeObject } from '../../src/kube/index.js';
import { startRegistry, type TestRegistry } from '../support/registry.js';
import { agentPod, reportModules, setupCluster, until, type TestCluster } from './cluster.js';
import { pushModule } from './images.js';

type CR = KubeObject & ASMFilterDeployment;
type Obj = KubeObject & Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

let cluster: TestCluster;
let registry: TestRegistry;
let controller: RunningController | undefined;
const nodes = ['node-a', 'node-b'];
/** Where an agent pod runs: the node the test server was told, or the one a real scheduler picked. */
async function nodeOf(agent: string): Promise<string> {
  const pod = await client().get<Obj>(Resources.pods, cluster.system, `agent-${agent}`);
  return pod.spec.nodeName ?? pod.metadata.name;
}
const held = new Map<string, Set<string>>(nodes.map((n) => [n, new Set()]));
/** The agent on `node` now also holds `digests` (agents only ever add; GC is not these tests' business). */
async function holds(node: string, ...digests: string[]): Promise<void> {
  for (const d of digests) held.get(node)!.add(d);
  await reportModules(cluster, node, [...held.get(node)!]);
}

const options = (extra: Partial<ControllerOptions> = {}): ControllerOptions => ({
  kubeconfig: cluster.kubeconfigPath,
  namespace: cluster.system,
  port: 0,
  host: '127.0.0.1',
  transport: { plainHttp: true, maxAttempts: 1 },
  tagRefreshMs: 1000,
  distributionTimeoutMs: 120_000,
  leaseDurationMs: 2000,
  renewDeadlineMs: 1500,
  retryPeriodMs: 250,
  retryBaseMs: 50,
  retryMaxMs: 1000,
  resyncMs: 30_000,
  ...extra,
});

const client = () => cluster.client;
const getCr = (name: string) => client().find<CR>(Resources.filterDeployments, cluster.apps, name);
const getEf = (name: string) =>
  client().find<Obj>(Resources.envoyFilters, cluster.apps, envoyFilterName(name));
const getDeployment = (name: string) => client().get<Obj>(Resources.deployments, cluster.apps, name);
const imagesList = async () =>
  ((await client().find<Obj>(Resources.configMaps, cluster.system, IMAGES_CONFIGMAP_NAME))?.data?.images as
    string | undefined) ?? '';
const cond = (cr: CR | undefined, type: string) => cr?.status?.conditions?.find((c) => c.type === type);

async function deployment(
  name: string,
  labels: Record<string, string>,
  annotations?: Record<string, string>,
): Promise<void> {
  await client().create(Resources.deployments, {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name, namespace: cluster.apps },
    spec: {
      replicas: 0,
      selector: { matchLabels: labels },
      template: {
        metadata: { labels, ...(annotations ? { annotations } : {}) },
        spec: { containers: [{ name: 'app', image: 'registry.k8s.io/pause:3.9' }] },
      },
    },
  });
}

function filter(
  name: string,
  image: string,
  labels: Record<string, string>,
  extra: Record<string, unknown> = {},
): CR {
  return {
    apiVersion: 'istio.alibabacloud.com/v1beta1',
    kind: 'ASMFilterDeployment',
    metadata: { name, namespace: cluster.apps },
    spec: {
      workload: { kind: 'Deployment', labels },
      filter: {
        patchContext: 'SIDECAR_INBOUND',
        parameters: '{"name":"hello","value":"hello details"}',
        image,
        rootID: 'my_root_id',
        id: `${name}.${cluster.apps}`,
        ...extra,
      },
    },
  } as CR;
}

const createCr = (cr: CR) => client().create(Resources.filterDeployments, cr);

beforeAll(async () => {
  cluster = await setupCluster();
  registry = await startRegistry();
  for (const n of nodes) await agentPod(cluster, n, []);
  controller = await startController(options());
}, 180_000);

afterAll(async () => {
  await controller?.stop();
  await registry?.destroy();
  await cluster?.stop();
});

describe('the controller', () => {
  it('resolves, distributes, then applies the EnvoyFilter and patches the workload (create)', async () => {
    const digest = await pushModule(registry.url, 'asm/asm-test', 'v0.1', 'create');
    await deployment('details-v1', { app: 'details', version: 'v1' });
    await createCr(
      filter('details-v1-wasmfiltersample', `${registry.host}/asm/asm-test:v0.1`, {
        app: 'details',
        version: 'v1',
      }),
    );

    // Before the agents report the module: no EnvoyFilter, status says which nodes are missing it.
    const waiting = await until(async () => {
      const cr = await getCr('details-v1-wasmfiltersample');
      return cond(cr, 'ModuleDistributed')?.reason === 'Distributing' ? cr : undefined;
    }, 'Distributing');
    expect(waiting.metadata.finalizers).toContain(FINALIZER);
    expect(waiting.status?.digest).toBe(digest);
    expect(waiting.status?.missingNodes).toEqual((await Promise.all(nodes.map(nodeOf))).sort());
    expect(cond(waiting, 'ImageResolved')).toMatchObject({ status: 'True', reason: 'Resolved' });
    expect(cond(waiting, 'Ready')?.status).toBe('False');
    expect(await getEf('details-v1-wasmfiltersample')).toBeUndefined();
    expect(await until(imagesList, 'images list')).toBe(`${registry.host}/asm/asm-test@${digest}\n`);
    const d = await until(async () => {
      const dep = await getDeployment('details-v1');
      return dep.spec.template.metadata.annotations?.[USER_VOLUME_ANNOTATION] ? dep : undefined;
    }, 'workload annotations');
    expect(JSON.parse(d.spec.template.metadata.annotations[USER_VOLUME_ANNOTATION])).toEqual([
      { name: 'wasmfilters-dir', hostPath: { path: '/var/local/lib/wasm-filters' } },
    ]);
    expect(JSON.parse(d.spec.template.metadata.annotations[USER_VOLUME_MOUNT_ANNOTATION])).toEqual([
      { mountPath: '/var/local/lib/wasm-filters', name: 'wasmfilters-dir' },
    ]);

    // One node reports: still waiting for the other.
    await holds('node-a', digest);
    await until(
      async () =>
        (await getCr('details-v1-wasmfiltersample'))?.status?.missingNodes?.join() ===
        (await nodeOf('node-b')),
      'node-b missing',
    );
    expect(await getEf('details-v1-wasmfiltersample')).toBeUndefined();

    await holds('node-b', 'sha256:' + '0'.repeat(64), digest);
    const ef = await until(() => getEf('details-v1-wasmfiltersample'), 'EnvoyFilter');
    const config = ef.spec.configPatches[0].patch.value.typed_config.config;
    expect(config.vm_config.code.local.filename).toBe(`/var/local/lib/wasm-filters/${digest.slice(7)}.wasm`);
    expect(config.root_id).toBe('my_root_id');
    expect(config.configuration.value).toBe('{"name":"hello","value":"hello details"}');
    expect(ef.spec.workloadSelector.labels).toEqual({ app: 'details', version: 'v1' });
    expect(ef.metadata.ownerReferences![0]).toMatchObject({
      kind: 'ASMFilterDeployment',
      name: 'details-v1-wasmfiltersample',
      uid: waiting.metadata.uid,
    });
    const ready = await until(async () => {
      const cr = await getCr('details-v1-wasmfiltersample');
      return cond(cr, 'Ready')?.status === 'True' ? cr : undefined;
    }, 'Ready');
    expect(ready.status).toMatchObject({
      observedGeneration: ready.metadata.generation,
      digest,
      matchedWorkloads: ['Deployment/details-v1'],
    });
    expect(ready.status?.missingNodes).toBeUndefined();
    expect(cond(ready, 'ModuleDistributed')).toMatchObject({ status: 'True', reason: 'Distributed' });
    const events = await client().list<Obj>(Resources.events, cluster.apps);
    expect(events.items.map((e) => e.reason)).toContain('EnvoyFilterCreated');
  });

  it('follows a change of parameters (update)', async () => {
    const before = (await getCr('details-v1-wasmfiltersample'))!;
    await client().patch(Resources.filterDeployments, cluster.apps, 'details-v1-wasmfiltersample', {
      spec: { filter: { parameters: '{"name":"hello","value":"changed"}' } },
    });
    const ef = await until(async () => {
      const e = await getEf('details-v1-wasmfiltersample');
      return e?.spec.configPatches[0].patch.value.typed_config.config.configuration.value ===
        '{"name":"hello","value":"changed"}'
        ? e
        : undefined;
    }, 'updated EnvoyFilter');
    expect(ef.metadata.annotations![DIGEST_ANNOTATION]).toBe(before.status?.digest);
    const cr = await until(async () => {
      const c = await getCr('details-v1-wasmfiltersample');
      return c?.status?.observedGeneration === before.metadata.generation! + 1 ? c : undefined;
    }, 'observedGeneration');
    expect(cond(cr, 'Ready')?.status).toBe('True');
  });

  it('rolls forward when the tag moves (pull policy Always), keeping the old module until the new one is everywhere', async () => {
    const old = (await getCr('details-v1-wasmfiltersample'))!.status!.digest!;
    await client().patch(Resources.filterDeployments, cluster.apps, 'details-v1-wasmfiltersample', {
      spec: { filter: { imagePullPolicy: 'Always' } },
    });
    const moved = await pushModule(registry.url, 'asm/asm-test', 'v0.1', 'moved');
    expect(moved).not.toBe(old);
    const waiting = await until(
      async () => {
        const c = await getCr('details-v1-wasmfiltersample');
        return c?.status?.digest === moved ? c : undefined;
      },
      'the new digest',
      20_000,
      async () => (await getCr('details-v1-wasmfiltersample'))?.status,
    );
    expect(cond(waiting, 'Ready')?.status).toBe('False');
    expect((await getEf('details-v1-wasmfiltersample'))!.metadata.annotations![DIGEST_ANNOTATION]).toBe(old);
    const both = await until(
      async () => ((await imagesList()).includes(moved) ? imagesList() : undefined),
      'both images',
    );
    expect(both.trim().split('\n').sort()).toEqual(
      [`${registry.host}/asm/asm-test@${old}`, `${registry.host}/asm/asm-test@${moved}`].sort(),
    );
    for (const n of nodes) await holds(n, moved);
    await until(
      async () =>
        (await getEf('details-v1-wasmfiltersample'))?.metadata.annotations?.[DIGEST_ANNOTATION] === moved,
      'EnvoyFilter on the new digest',
    );
    const events = await client().list<Obj>(Resources.events, cluster.apps);
    expect(events.items.map((e) => e.message)).toContain(
      `${registry.host}/asm/asm-test:v0.1 moved from ${old} to ${registry.host}/asm/asm-test@${moved}`,
    );
    await until(
      async () => (await imagesList()) === `${registry.host}/asm/asm-test@${moved}\n`,
      'old image dropped from the list',
    );
    await client().patch(Resources.filterDeployments, cluster.apps, 'details-v1-wasmfiltersample', {
      spec: { filter: { imagePullPolicy: 'IfNotPresent' } },
    });
  });

  it('patches a workload created after its filter, and keeps the user’s own volumes (workload later; two CRs on one workload; delete)', async () => {
    const digest = await pushModule(registry.url, 'asm/reviews', 'v1', 'reviews');
    for (const n of nodes) await holds(n, digest);
    const image = `${registry.host}/asm/reviews@${digest}`;
    await createCr(filter('reviews-a', image, { app: 'reviews' }));
    await createCr(filter('reviews-b', image, { app: 'reviews' }, { rootID: 'other_root' }));
    const lonely = await until(async () => {
      const c = await getCr('reviews-a');
      return cond(c, 'Ready')?.status === 'True' ? c : undefined;
    }, 'reviews-a Ready without workloads');
    expect(lonely.status?.matchedWorkloads).toEqual([]);

    const userVolume = JSON.stringify([{ name: 'cache', emptyDir: {} }]);
    await deployment(
      'reviews-v1',
      { app: 'reviews' },
      { [USER_VOLUME_ANNOTATION]: userVolume, team: 'reviews' },
    );
    const patched = await until(async () => {
      const d = await getDeployment('reviews-v1');
      return (d.spec.template.metadata.annotations[USER_VOLUME_MOUNT_ANNOTATION] ? d : undefined) as
        Obj | undefined;
    }, 'reviews-v1 patched');
    expect(JSON.parse(patched.spec.template.metadata.annotations[USER_VOLUME_ANNOTATION])).toEqual([
      { name: 'cache', emptyDir: {} },
      { name: 'wasmfilters-dir', hostPath: { path: '/var/local/lib/wasm-filters' } },
    ]);
    await until(
      async () => (await getCr('reviews-a'))?.status?.matchedWorkloads?.join() === 'Deployment/reviews-v1',
      'matched workloads',
    );

    // One of two filters goes: the volume stays for the other.
    await client().delete(Resources.filterDeployments, cluster.apps, 'reviews-a');
    await until(async () => !(await getCr('reviews-a')), 'reviews-a gone');
    expect(await getEf('reviews-a')).toBeUndefined();
    expect(
      (await getDeployment('reviews-v1')).spec.template.metadata.annotations[USER_VOLUME_MOUNT_ANNOTATION],
    ).toBeDefined();
    expect(await getEf('reviews-b')).toBeDefined();

    // The last one goes: the user's annotations are exactly as they were.
    await client().delete(Resources.filterDeployments, cluster.apps, 'reviews-b');
    await until(async () => !(await getCr('reviews-b')), 'reviews-b gone');
    expect(await getEf('reviews-b')).toBeUndefined();
    expect((await getDeployment('reviews-v1')).spec.template.metadata.annotations).toEqual({
      [USER_VOLUME_ANNOTATION]: userVolume,
      team: 'reviews',
    });
    expect(await imagesList()).not.toContain('asm/reviews');
  });

  it('moves the volume when a filter is retargeted to another workload', async () => {
    const digest = await pushModule(registry.url, 'asm/mover', 'v1', 'mover');
    for (const n of nodes) await holds(n, digest);
    await deployment('mover-a', { app: 'mover-a' });
    await deployment('mover-b', { app: 'mover-b' });
    await createCr(filter('mover', `${registry.host}/asm/mover:v1`, { app: 'mover-a' }));
    await until(
      async () =>
        (await getCr('mover'))?.status?.matchedWorkloads?.join() === 'Deployment/mover-a' &&
        cond(await getCr('mover'), 'Ready')?.status === 'True',
      'mover on mover-a',
    );
    await client().patch(Resources.filterDeployments, cluster.apps, 'mover', {
      spec: { workload: { labels: { app: 'mover-b' } } },
    });
    await until(
      async () =>
        (await getDeployment('mover-b')).spec.template.metadata.annotations?.[USER_VOLUME_ANNOTATION],
      'mover-b patched',
    );
    await until(
      async () =>
        !(await getDeployment('mover-a')).spec.template.metadata.annotations?.[USER_VOLUME_ANNOTATION],
      'mover-a unpatched',
    );
    await until(
      async () => (await getEf('mover'))?.spec.workloadSelector.labels.app === 'mover-b',
      'EnvoyFilter retargeted',
    );
    expect((await getCr('mover'))?.status?.matchedWorkloads).toEqual(['Deployment/mover-b']);
  });

  it('explains an invalid CR in its status without affecting the others', async () => {
    await createCr(
      filter('broken', `${registry.host}/asm/asm-test:v0.1`, { app: 'details' }, { parameters: '{not json' }),
    );
    const broken = await until(async () => {
      const c = await getCr('broken');
      return cond(c, 'Ready')?.reason === 'InvalidSpec' ? c : undefined;
    }, 'InvalidSpec');
    expect(cond(broken, 'Ready')!.message).toContain('spec.filter.parameters');
    expect(await getEf('broken')).toBeUndefined();
    const ok = await getCr('details-v1-wasmfiltersample');
    expect(cond(ok, 'Ready')?.status).toBe('True');
    const events = await client().list<Obj>(Resources.events, cluster.apps);
    expect(events.items.some((e) => e.reason === 'InvalidSpec' && e.involvedObject.name === 'broken')).toBe(
      true,
    );
    await client().delete(Resources.filterDeployments, cluster.apps, 'broken');
    await until(async () => !(await getCr('broken')), 'broken gone');
  });

  it('reports an unreachable registry as a condition and recovers when it is back', async () => {
    await registry.stop();
    try {
      await createCr(filter('offline', `${registry.host}/asm/offline:v1`, { app: 'offline' }));
      const failed = await until(async () => {
        const c = await getCr('offline');
        return cond(c, 'ImageResolved')?.reason === 'ResolveFailed' ? c : undefined;
      }, 'ResolveFailed');
      expect(cond(failed, 'Ready')?.status).toBe('False');
      expect(cond(failed, 'ImageResolved')!.message).toContain(`${registry.host}/asm/offline:v1`);
      // Other filters are untouched meanwhile.
      expect(cond(await getCr('details-v1-wasmfiltersample'), 'Ready')?.status).toBe('True');
    } finally {
      await registry.start();
    }
    const digest = await pushModule(registry.url, 'asm/offline', 'v1', 'offline');
    for (const n of nodes) await holds(n, digest);
    await until(
      async () => cond(await getCr('offline'), 'Ready')?.status === 'True',
      'offline Ready after the registry returns',
      30_000,
    );
    expect((await getEf('offline'))!.metadata.annotations![DIGEST_ANNOTATION]).toBe(digest);
  });

  it('serves /healthz, /readyz and /metrics', async () => {
    const base = `http://127.0.0.1:${controller!.port}`;
    expect((await fetch(`${base}/healthz`)).status).toBe(200);
    expect((await fetch(`${base}/readyz`)).status).toBe(200);
    const metrics = await (await fetch(`${base}/metrics`)).text();
    expect(metrics).toMatch(/meshwasm_controller_reconciles_total\{kind="fd",result="ok"\} [1-9]/);
    expect(metrics).toContain('meshwasm_controller_leader 1');
    expect(metrics).toMatch(/meshwasm_controller_filter_deployments\{ready="true"\} [1-9]/);
  });
});

describe('restarts, replicas and timeouts', () => {
  it('converges after a restart in the middle of a rollout', async () => {
    const digest = await pushModule(registry.url, 'asm/ratings', 'v1', 'ratings');
    await deployment('ratings-v1', { app: 'ratings' });
    await createCr(filter('ratings', `${registry.host}/asm/ratings:v1`, { app: 'ratings' }));
    await until(
      async () => cond(await getCr('ratings'), 'ModuleDistributed')?.reason === 'Distributing',
      'ratings Distributing',
    );
    await controller!.stop();
    controller = undefined;
    // While no controller runs: the agents get the module, and someone deletes the EnvoyFilter of another CR.
    for (const n of nodes) await holds(n, digest);
    await client().delete(
      Resources.envoyFilters,
      cluster.apps,
      envoyFilterName('details-v1-wasmfiltersample'),
    );
    controller = await startController(options());
    await until(
      async () => cond(await getCr('ratings'), 'Ready')?.status === 'True',
      'ratings Ready after restart',
    );
    await until(() => getEf('details-v1-wasmfiltersample'), 'EnvoyFilter restored');
    expect(await imagesList()).toContain(`asm/ratings@${digest}`);
    expect(await imagesList()).toContain('asm/offline@');
  });

  it('runs two replicas safely: one leader, and the other takes over when it stops', async () => {
    const second = await startController(options({ identity: 'replica-2' }));
    try {
      await until(() => controller!.isLeader() !== second.isLeader(), 'exactly one leader');
      const [leader, standby] = controller!.isLeader() ? [controller!, second] : [second, controller!];
      const lease = await client().get<Obj>(Resources.leases, cluster.system, 'meshwasm-controller');
      expect(lease.spec.holderIdentity).toBe(leader.identity);
      await leader.stop();
      if (leader === controller) controller = second;
      await until(() => standby.isLeader(), 'the standby to take over', 10_000);
      const digest = await pushModule(registry.url, 'asm/productpage', 'v1', 'productpage');
      for (const n of nodes) await holds(n, digest);
      await createCr(filter('productpage', `${registry.host}/asm/productpage:v1`, { app: 'productpage' }));
      await until(
        async () => cond(await getCr('productpage'), 'Ready')?.status === 'True',
        'handled by the new leader',
      );
      expect(
        (await client().get<Obj>(Resources.leases, cluster.system, 'meshwasm-controller')).spec
          .holderIdentity,
      ).toBe(standby.identity);
      const efs = await client().list<Obj>(Resources.envoyFilters, cluster.apps);
      expect(efs.items.filter((e) => e.metadata.name === envoyFilterName('productpage'))).toHaveLength(1);
    } finally {
      if (second !== controller) await second.stop();
    }
  });

  it.skipIf(process.env.KUBECONFIG !== undefined)(
    'keeps working across dropped watches and a compacted history (test API server only: needs to cut its watches)',
    async () => {
      cluster.server!.compact();
      cluster.server!.closeWatches();
      const digest = await pushModule(registry.url, 'asm/after-drop', 'v1', 'after-drop');
      for (const n of nodes) await holds(n, digest);
      await createCr(filter('after-drop', `${registry.host}/asm/after-drop:v1`, { app: 'after-drop' }));
      await until(
        async () => cond(await getCr('after-drop'), 'Ready')?.status === 'True',
        'after-drop Ready',
      );
      expect(await getEf('after-drop')).toBeDefined();
    },
  );

  it('turns a distribution that never completes into a DistributionTimeout condition', async () => {
    await controller!.stop();
    controller = await startController(options({ distributionTimeoutMs: 1000 }));
    await pushModule(registry.url, 'asm/slow', 'v1', 'slow');
    await createCr(filter('slow', `${registry.host}/asm/slow:v1`, { app: 'slow' }));
    const timedOut = await until(async () => {
      const c = await getCr('slow');
      return cond(c, 'ModuleDistributed')?.reason === 'DistributionTimeout' ? c : undefined;
    }, 'DistributionTimeout');
    expect(cond(timedOut, 'Ready')).toMatchObject({ status: 'False', reason: 'DistributionTimeout' });
    expect(cond(timedOut, 'Ready')!.message).toContain(await nodeOf('node-a'));
    expect(await getEf('slow')).toBeUndefined();
  });
});
