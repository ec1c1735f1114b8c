/**
 * A cluster for the controller tests: the test API server, or the real cluster named by KUBECONFIG.
 * Each run works in namespaces of its own (one for meshwasm's objects, one for the workloads), so a real
 * cluster is left as it was. Agent pods are real pods; on the test server, which has no kubelet, the
 * harness marks them Ready itself (the one thing a kubelet would do).
 */
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseAllDocuments } from 'yaml';
import {
  startController,
  type ControllerOptions,
  type RunningController,
} from '../../src/controller/index.js';
import { createLogger } from '../../src/log.js';
import { AGENT_NAME, MODULES_ANNOTATION, NAME_LABEL } from '../../src/mesh/index.js';
import {
  isAlreadyExists,
  KubeClient,
  loadKubeConfig,
  Resources,
  type KubeObject,
} from '../../src/kube/index.js';
import { startKubeApiServer, type KubeApiServer } from '../support/kube-apiserver/index.js';

export interface TestCluster {
  kubeconfigPath: string;
  client: KubeClient;
  /** The test API server, or undefined against a real cluster. */
  server: KubeApiServer | undefined;
  /** meshwasm's namespace (pull secret, images ConfigMap, agents, Lease). */
  system: string;
  /** The workloads' and CRs' namespace. */
  apps: string;
  stop(): Promise<void>;
}

const root = join(import.meta.dirname, '..', '..');

async function ensure(
  client: KubeClient,
  r: Parameters<KubeClient['create']>[0],
  obj: KubeObject,
): Promise<void> {
  try {
    await client.create(r, obj);
  } catch (e) {
    if (!isAlreadyExists(e)) throw e;
  }
}

async function until<T>(
  fn: () => Promise<T> | T,
  what: string,
  timeoutMs = 20_000,
  show?: () => Promise<unknown>,
): Promise<NonNullable<T>> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await fn();
      if (v) return v as NonNullable<T>;
    } catch (e) {
      last = e;
    }
    if (Date.now() > deadline) {
      const state = show ? ` (state: ${JSON.stringify(await show())})` : '';
      throw new Error(
        `timed out waiting for ${what}${last ? ` (last error: ${(last as Error).message})` : ''}${state}`,
      );
    }
    await new Promise((r) => setTimeout(r, 50));
  }
}
export { until };

/**
 * A controller on `c` with the short retry, lease and backoff periods the tests want (a registry over
 * plain HTTP, a silent log); `overrides` win.
 */
export function startTestController(
  c: TestCluster,
  overrides: ControllerOptions = {},
): Promise<RunningController> {
  return startController({
    kubeconfig: c.kubeconfigPath,
    namespace: c.system,
    transport: { plainHttp: true },
    retryBaseMs: 50,
    retryMaxMs: 1000,
    leaseDurationMs: 2000,
    retryPeriodMs: 250,
    logger: createLogger('controller', 'silent'),
    ...overrides,
  });
}

export async function setupCluster(): Promise<TestCluster> {
  const real = process.env.KUBECONFIG;
  const server = real ? undefined : await startKubeApiServer();
  const kubeconfigPath = real ?? server!.kubeconfigPath;
  const client = new KubeClient(loadKubeConfig(kubeconfigPath));
  const suffix = randomBytes(3).toString('hex');
  const system = `mw-system-${suffix}`;
  const apps = `mw-apps-${suffix}`;
  if (real)
    console.info(
      `controller tests: using the cluster of KUBECONFIG=${real} (namespaces ${system}, ${apps}; removed afterwards)`,
    );
  for (const name of [system, apps])
    await ensure(client, Resources.namespaces, { apiVersion: 'v1', kind: 'Namespace', metadata: { name } });
  const crds = [
    ...parseAllDocuments(readFileSync(join(root, 'deploy', 'crd.yaml'), 'utf8')),
    ...parseAllDocuments(readFileSync(join(import.meta.dirname, 'envoyfilter-crd.yaml'), 'utf8')),
  ].map((d) => d.toJS() as KubeObject);
  for (const crd of crds) await ensure(client, Resources.crds, crd);
  for (const r of [Resources.filterDeployments, Resources.envoyFilters])
    await until(() => client.list(r, apps), `${r.plural} to be served`);
  return {
    kubeconfigPath,
    client,
    server,
    system,
    apps,
    async stop() {
      if (server) await server.stop();
      else {
        for (const name of [apps, system])
          await client.delete(Resources.namespaces, undefined, name).catch(() => undefined);
      }
      client.close();
    },
  };
}

/** A node agent's pod reporting `digests` (created Ready; on a real cluster the kubelet makes it so). */
export async function agentPod(c: TestCluster, node: string, digests: string[]): Promise<void> {
  const name = `agent-${node}`;
  await c.client.create(Resources.pods, {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: {
      name,
      namespace: c.system,
      labels: { [NAME_LABEL]: AGENT_NAME },
      annotations: { [MODULES_ANNOTATION]: JSON.stringify(digests) },
    },
    spec: {
      ...(c.server ? { nodeName: node } : {}),
      containers: [{ name: 'agent', image: 'registry.k8s.io/pause:3.9' }],
    },
  });
  if (c.server) {
    await c.client.patch(
      Resources.pods,
      c.system,
      name,
      { status: { phase: 'Running', conditions: [{ type: 'Ready', status: 'True' }] } },
      'merge',
      'status',
    );
  } else {
    await until(
      async () => {
        const p = await c.client.get<
          KubeObject & { status?: { conditions?: { type: string; status: string }[] } }
        >(Resources.pods, c.system, name);
        return p.status?.conditions?.some((x) => x.type === 'Ready' && x.status === 'True');
      },
      `agent pod ${name} to be Ready`,
      120_000,
    );
  }
}

export async function reportModules(c: TestCluster, node: string, digests: string[]): Promise<void> {
  await c.client.patch(Resources.pods, c.system, `agent-${node}`, {
    metadata: { annotations: { [MODULES_ANNOTATION]: JSON.stringify(digests) } },
  });
}
