/**
 * The controller process: informers feed a rate-limited work queue; only the replica holding the leader
 * Lease runs the workers; the others keep warm caches and stand by. Health and metrics are served on
 * their own port.
 */
import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import type { Server } from 'node:http';
import type { KubeConfig } from '@kubernetes/client-node';
import { Gauge } from 'prom-client';
import { createLogger, type Logger } from '../log.js';
import {
  AGENT_NAME,
  CONTROLLER_NAME,
  DEFAULT_NAMESPACE,
  IMAGES_CONFIGMAP_NAME,
  INJECTED_ANNOTATION,
  LEADER_LEASE_NAME,
  MANAGED_BY_LABEL,
  MANAGED_BY_VALUE,
  NAME_LABEL,
  SOURCE_ANNOTATION,
  WORKLOAD_KINDS,
  type WorkloadKind,
} from '../mesh/index.js';
import {
  EventRecorder,
  isConflict,
  Informer,
  KubeClient,
  LeaderElector,
  Resources,
  loadKubeConfig,
  type KubeObject,
} from '../kube/index.js';
import { resolveDigest, type TransportOptions } from '../oci/index.js';
import type { AgentPod } from './agents.js';
import { createMetrics, type ControllerMetrics } from './metrics.js';
import { WorkQueue } from './queue.js';
import {
  fdKey,
  IMAGES_KEY,
  Reconciler,
  wlKey,
  type Caches,
  type FilterDeploymentObject,
  type Resolver,
  type Workload,
} from './reconciler.js';
import { startHealthServer } from './server.js';

export interface ControllerOptions {
  /** A loaded KubeConfig or a kubeconfig path; default KUBECONFIG, ~/.kube/config or in-cluster. */
  kubeconfig?: KubeConfig | string;
  /** Namespace of the pull secret, the images ConfigMap, the agent pods and the Lease (istio-system). */
  namespace?: string;
  /** Leader election identity (default $POD_NAME, else host-pid-random). */
  identity?: string;
  /** Port for /healthz, /readyz, /metrics (0 picks a free one; undefined serves nothing). */
  port?: number;
  host?: string;
  /** Tag -> digest; default the OCI client with `transport` and the pull secret's credentials. */
  resolver?: Resolver;
  transport?: Pick<
    TransportOptions,
    'plainHttp' | 'insecure' | 'caFile' | 'maxAttempts' | 'retryBaseMs' | 'retryMaxMs'
  >;
  workers?: number; // default 4
  /** How often tags of `imagePullPolicy: Always` filters are re-resolved (default 300 s). */
  tagRefreshSeconds?: number;
  /** How long a new digest may wait for the agents before the CR says DistributionTimeout (default 300 s). */
  distributionTimeoutSeconds?: number;
  /** Full re-reconcile period (default 600 s). */
  resyncSeconds?: number;
  leaseDurationSeconds?: number;
  renewDeadlineSeconds?: number;
  retryPeriodSeconds?: number;
  /** Retry backoff of failed keys. */
  retryBaseMs?: number;
  retryMaxMs?: number;
  filtersDir?: string;
  logger?: Logger;
}

export interface RunningController {
  /** The health/metrics port actually bound (undefined without `port`). */
  port: number | undefined;
  identity: string;
  isLeader(): boolean;
  /** True once the caches are synced (every replica) . */
  isReady(): boolean;
  metrics: ControllerMetrics;
  /** API requests this controller has sent (for benchmarks). */
  apiRequests(): number;
  stop(): Promise<void>;
}

export async function startController(options: ControllerOptions = {}): Promise<RunningController> {
  const log = options.logger ?? createLogger(CONTROLLER_NAME);
  const namespace = options.namespace ?? DEFAULT_NAMESPACE;
  const kc = typeof options.kubeconfig === 'object' ? options.kubeconfig : loadKubeConfig(options.kubeconfig);
  const client = new KubeClient(kc);
  const identity =
    options.identity ??
    process.env.POD_NAME ??
    `${hostname()}-${process.pid}-${randomBytes(3).toString('hex')}`;
  const metrics = createMetrics();
  const queue = new WorkQueue({
    baseDelayMs: options.retryBaseMs ?? 200,
    maxDelayMs: options.retryMaxMs ?? 60_000,
  });
  const events = new EventRecorder(client, CONTROLLER_NAME, identity, log);
  const resolver: Resolver =
    options.resolver ??
    ((ref, dockerConfigJson) => resolveDigest(ref, { ...options.transport, dockerConfigJson }));

  const enqueue = (key: string) => queue.add(key);
  const enqueueAllFilters = () => {
    for (const cr of caches.filterDeployments.list()) enqueue(fdKey(cr.metadata.namespace, cr.metadata.name));
  };
  // Workloads that carry meshwasm's volume: re-checked at takeover and on resync (a CR may be gone).
  const enqueueInjectedWorkloads = () => {
    for (const [kind, inf] of Object.entries(caches.workloads))
      for (const w of inf.list())
        if (w.spec?.template?.metadata?.annotations?.[INJECTED_ANNOTATION])
          enqueue(wlKey(kind, w.metadata.namespace!, w.metadata.name));
  };
  const onFilter = (cr: FilterDeploymentObject) => enqueue(fdKey(cr.metadata.namespace, cr.metadata.name));
  // A workload change concerns the CRs that select it now or listed it before (labels may have changed).
  const enqueueFiltersOf = (kind: WorkloadKind, w: Workload) => {
    const ns = w.metadata.namespace!;
    const listed = `${kind}/${w.metadata.name}`;
    for (const cr of caches.filterDeployments.list(ns))
      if (reconciler.workloads.targets(cr, kind, w) || cr.status?.matchedWorkloads?.includes(listed))
        enqueue(fdKey(ns, cr.metadata.name));
  };
  const onWorkload = (kind: WorkloadKind) => ({
    add: (w: Workload) => {
      enqueue(wlKey(kind, w.metadata.namespace!, w.metadata.name));
      enqueueFiltersOf(kind, w);
    },
    update: (w: Workload) => {
      enqueue(wlKey(kind, w.metadata.namespace!, w.metadata.name));
      enqueueFiltersOf(kind, w);
    },
    delete: (w: Workload) => enqueueFiltersOf(kind, w),
  });
  const onEnvoyFilter = (ef: KubeObject) => {
    const source = ef.metadata.annotations?.[SOURCE_ANNOTATION];
    if (source?.includes('/')) enqueue(`fd/${source}`);
  };

  const caches: Caches = {
    filterDeployments: new Informer<FilterDeploymentObject>(
      client,
      Resources.filterDeployments,
      { add: onFilter, update: onFilter, delete: onFilter },
      log,
    ),
    workloads: Object.fromEntries(
      WORKLOAD_KINDS.map((kind) => [
        kind,
        new Informer<Workload>(
          client,
          {
            Deployment: Resources.deployments,
            StatefulSet: Resources.statefulSets,
            DaemonSet: Resources.daemonSets,
          }[kind],
          onWorkload(kind),
          log,
        ),
      ]),
    ) as Record<WorkloadKind, Informer<Workload>>,
    envoyFilters: new Informer<KubeObject>(
      client,
      Resources.envoyFilters,
      { update: onEnvoyFilter, delete: onEnvoyFilter },
      log,
      {
        labelSelector: `${MANAGED_BY_LABEL}=${MANAGED_BY_VALUE}`,
      },
    ),
    agents: new Informer<AgentPod>(
      client,
      Resources.pods,
      { add: enqueueAllFilters, update: enqueueAllFilters, delete: enqueueAllFilters },
      log,
      {
        namespace,
        labelSelector: `${NAME_LABEL}=${AGENT_NAME}`,
      },
    ),
    images: new Informer(
      client,
      Resources.configMaps,
      { update: () => enqueue(IMAGES_KEY), delete: () => enqueue(IMAGES_KEY) },
      log,
      {
        namespace,
        fieldSelector: `metadata.name=${IMAGES_CONFIGMAP_NAME}`,
      },
    ),
  };
  const informers: Informer<KubeObject>[] = [
    caches.filterDeployments,
    ...Object.values(caches.workloads),
    caches.envoyFilters,
    caches.agents,
    caches.images,
  ] as unknown as Informer<KubeObject>[];

  // The CRs by their Ready condition, read from the cache at scrape time.
  new Gauge({
    name: 'meshwasm_controller_filter_deployments',
    help: 'ASMFilterDeployments by the status of their Ready condition',
    labelNames: ['ready'],
    registers: [metrics.registry],
    collect() {
      const counts: Record<string, number> = { True: 0, False: 0, Unknown: 0 };
      for (const cr of caches.filterDeployments.list()) {
        const ready = cr.status?.conditions?.find((c) => c.type === 'Ready')?.status ?? 'Unknown';
        counts[ready] = (counts[ready] ?? 0) + 1;
      }
      for (const [ready, n] of Object.entries(counts)) this.set({ ready: ready.toLowerCase() }, n);
    },
  });

  const reconciler = new Reconciler(
    client,
    caches,
    resolver,
    events,
    metrics,
    log,
    {
      namespace,
      tagRefreshMs: (options.tagRefreshSeconds ?? 300) * 1000,
      distributionTimeoutMs: (options.distributionTimeoutSeconds ?? 300) * 1000,
      filtersDir: options.filtersDir,
    },
    enqueue,
  );

  let synced = false;
  let stopping = false;
  const elector = new LeaderElector(
    client,
    {
      namespace,
      name: LEADER_LEASE_NAME,
      identity,
      leaseDurationSeconds: options.leaseDurationSeconds,
      renewDeadlineSeconds: options.renewDeadlineSeconds,
      retryPeriodSeconds: options.retryPeriodSeconds,
    },
    {
      onStartedLeading: () => {
        metrics.leader.set(1);
        // Everything is re-derived from the caches: a new leader converges from whatever state it finds.
        reconciler.images.initialPending.clear();
        for (const cr of caches.filterDeployments.list())
          reconciler.images.initialPending.add(`${cr.metadata.namespace}/${cr.metadata.name}`);
        enqueueAllFilters();
        enqueueInjectedWorkloads();
        enqueue(IMAGES_KEY);
      },
      onStoppedLeading: () => metrics.leader.set(0),
    },
    log,
  );

  async function worker(): Promise<void> {
    for (;;) {
      const key = await queue.get();
      if (key === undefined) return;
      metrics.queueDepth.set(queue.length);
      if (!elector.isLeader()) {
        queue.done(key);
        continue; // a standby does not write; the next leader re-enqueues everything
      }
      const kind = key.split('/')[0]!;
      const end = metrics.reconcileSeconds.startTimer({ kind });
      try {
        const result = await reconciler.reconcile(key);
        log.debug({ key, requeueAfterMs: result.requeueAfterMs }, 'reconciled');
        queue.forget(key);
        if (result.requeueAfterMs !== undefined && Number.isFinite(result.requeueAfterMs))
          queue.addAfter(key, result.requeueAfterMs);
        metrics.reconciles.inc({ kind, result: 'ok' });
      } catch (err) {
        const delay = queue.addRateLimited(key);
        metrics.reconciles.inc({ kind, result: 'error' });
        // Conflicts are the normal price of optimistic concurrency: the retry reads the newer version.
        const level = isConflict(err) ? 'debug' : 'warn';
        log[level]({ key, err: (err as Error).message, retryInMs: delay }, 'reconcile failed');
      } finally {
        end();
        queue.done(key);
      }
    }
  }

  let server: Server | undefined;
  let boundPort: number | undefined;
  if (options.port !== undefined) {
    const started = await startHealthServer(
      options.port,
      options.host ?? '0.0.0.0',
      metrics.registry,
      () => synced && !stopping,
    );
    server = started.server;
    boundPort = started.port;
  }

  await Promise.all(informers.map((i) => i.start()));
  synced = true;
  const workers = Array.from({ length: options.workers ?? 4 }, () => worker());
  elector.start();
  const resync = setInterval(
    () => {
      if (elector.isLeader()) {
        enqueueAllFilters();
        enqueueInjectedWorkloads();
        enqueue(IMAGES_KEY);
      }
    },
    (options.resyncSeconds ?? 600) * 1000,
  );
  resync.unref();
  log.info({ identity, namespace, port: boundPort }, 'controller started');

  return {
    port: boundPort,
    identity,
    isLeader: () => elector.isLeader(),
    isReady: () => synced && !stopping,
    metrics,
    apiRequests: () => client.requests,
    async stop() {
      stopping = true;
      clearInterval(resync);
      await elector.stop();
      queue.shutDown();
      await Promise.all(workers);
      await Promise.all(informers.map((i) => i.stop()));
      if (server) await new Promise<void>((resolve) => server!.close(() => resolve()));
      client.close();
      log.info({ identity }, 'controller stopped');
    },
  };
}
