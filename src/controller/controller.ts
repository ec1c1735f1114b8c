/**
 * The controller process: informers feed a rate-limited work queue; only the replica holding the leader
 * Lease runs the workers; the others keep warm caches and stand by. Health and metrics are served on
 * their own port. This file only wires the parts: caches.ts (informers and what each change enqueues),
 * reconciler.ts (read -> decide.ts -> write), worker.ts (the queue loop).
 */
import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import type { KubeConnection } from '../kube/config.js';
import { Gauge } from '../metrics/index.js';
import { createLogger, type Logger } from '../log.js';
import {
  CONTROLLER_NAME,
  DEFAULT_MESH_CONFIG,
  DEFAULT_NAMESPACE,
  LEADER_LEASE_NAME,
  type MeshConfigKind,
} from '../mesh/index.js';
import { EventRecorder, KubeClient, LeaderElector, loadKubeConfig } from '../kube/index.js';
import { resolveDigest, resolveModuleDigest, type TransportOptions } from '../oci/index.js';
import { createCaches, type ControllerCaches } from './caches.js';
import { crId, IMAGES_KEY, keyId, type QueueKey } from './keys.js';
import { createMetrics, type ControllerMetrics } from './metrics.js';
import { WorkQueue } from './queue.js';
import { Reconciler } from './reconciler.js';
import { startHealthServer } from './server.js';
import type { Http1Server } from '../http1/server.js';
import type { VerificationPolicy } from '../sign/policy.js';
import type { ModuleResolver, Resolver, SignatureVerifier } from './types.js';
import { runWorker } from './worker.js';
import { IdleCollector } from '../memory.js';

/** Every duration is in milliseconds. */
export interface ControllerOptions {
  /** A loaded kubeconfig (KubeConnection, or client-node's KubeConfig) or a kubeconfig path; default KUBECONFIG, ~/.kube/config or in-cluster. */
  kubeconfig?: KubeConnection | string;
  /** Namespace of the pull secret, the images ConfigMap, the agent pods and the Lease (istio-system). */
  namespace?: string;
  /** Leader election identity (default $POD_NAME, else host-pid-random). */
  identity?: string;
  /** Port for /healthz, /readyz, /metrics (0 picks a free one; undefined serves nothing). */
  port?: number;
  host?: string;
  /** Tag -> digest; default the OCI client with `transport` and the pull secret's credentials. */
  resolver?: Resolver;
  /** Pinned reference -> the module's sha256 (WasmPlugins carry it); default the OCI client, as resolver. */
  moduleResolver?: ModuleResolver;
  /**
   * A verification policy (optional): each resolved digest must carry a trusted signature before it is
   * put in the images ConfigMap and rendered. Without one nothing is verified (the behaviour before).
   */
  verification?: VerificationPolicy;
  /** Signature check; default the policy above through the OCI client with `transport`. */
  verifier?: SignatureVerifier;
  transport?: Pick<
    TransportOptions,
    'plainHttp' | 'insecure' | 'caFile' | 'maxAttempts' | 'retryBaseMs' | 'retryMaxMs'
  >;
  workers?: number; // default 4
  /** How often tags of `imagePullPolicy: Always` filters are re-resolved (default 300 s). */
  tagRefreshMs?: number;
  /** How long a new digest may wait for the agents before the CR says DistributionTimeout (default 300 s). */
  distributionTimeoutMs?: number;
  /** Full re-reconcile period (default 600 s). */
  resyncMs?: number;
  leaseDurationMs?: number;
  renewDeadlineMs?: number;
  retryPeriodMs?: number;
  /** Retry backoff of failed keys. */
  retryBaseMs?: number;
  retryMaxMs?: number;
  filtersDir?: string;
  /**
   * What a CR without spec.meshConfig gets (default EnvoyFilter). With WasmPlugin the controller also
   * waits for the WasmPlugin CRD to be served before it is ready; otherwise it watches WasmPlugins when
   * the cluster serves them, and a CR asking for one on a cluster that does not says so in its status.
   */
  meshConfig?: MeshConfigKind;
  /**
   * The node gate (default on): label each node whose agent holds a CR's module, and require that label
   * in the node affinity of the CR's workloads, so no pod starts on a node without the module.
   */
  nodeGate?: boolean;
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

/** The CRs by their Ready condition, read from the cache at scrape time. */
function readinessGauge(metrics: ControllerMetrics, caches: ControllerCaches): void {
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
  const queue = new WorkQueue<QueueKey>({
    baseDelayMs: options.retryBaseMs ?? 200,
    maxDelayMs: options.retryMaxMs ?? 60_000,
    id: keyId,
  });
  const enqueue = (key: QueueKey) => queue.add(key);
  const events = new EventRecorder(client, CONTROLLER_NAME, identity, log);
  const resolver: Resolver =
    options.resolver ??
    ((ref, dockerConfigJson) => resolveDigest(ref, { ...options.transport, dockerConfigJson }));
  const moduleResolver: ModuleResolver =
    options.moduleResolver ??
    (async (ref, dockerConfigJson) =>
      (await resolveModuleDigest(ref, { ...options.transport, dockerConfigJson })).moduleDigest);
  const meshConfig = options.meshConfig ?? DEFAULT_MESH_CONFIG;
  const nodeGate = options.nodeGate ?? true;
  const policy = options.verification;
  const verifier: SignatureVerifier | undefined =
    options.verifier ??
    (policy &&
      (async (ref, digest, dockerConfigJson) => {
        // Loaded only with a policy: the Sigstore libraries are not needed otherwise.
        const { verifyReferenceDigest } = await import('../sign/remote.js');
        return verifyReferenceDigest(ref, digest, policy, { ...options.transport, dockerConfigJson });
      }));
  if (policy) {
    const { describeSigners } = await import('../sign/policy.js');
    log.info(
      { policy: policy.source, signers: describeSigners(policy) },
      'signature verification on: digests are distributed and rendered only once a trusted signature verifies',
    );
  }

  const caches = createCaches(
    { client, log, enqueue, targets: (cr, kind, w) => reconciler.workloads.targets(cr, kind, w) },
    { namespace, requireWasmPlugins: meshConfig === 'WasmPlugin', nodeGate },
  );
  readinessGauge(metrics, caches);
  const reconciler = new Reconciler(
    { client, caches, resolver, moduleResolver, verifier, events, metrics, log, enqueue },
    {
      namespace,
      meshConfig,
      nodeGate,
      tagRefreshMs: options.tagRefreshMs ?? 300_000,
      distributionTimeoutMs: options.distributionTimeoutMs ?? 300_000,
      filtersDir: options.filtersDir,
    },
  );

  const enqueueEverything = () => {
    caches.enqueueAllFilters();
    caches.enqueueInjectedWorkloads();
    enqueue(IMAGES_KEY);
  };
  let synced = false;
  let stopping = false;
  const elector = new LeaderElector(
    client,
    {
      namespace,
      name: LEADER_LEASE_NAME,
      identity,
      leaseDurationMs: options.leaseDurationMs,
      renewDeadlineMs: options.renewDeadlineMs,
      retryPeriodMs: options.retryPeriodMs,
    },
    {
      onStartedLeading: () => {
        metrics.leader.set(1);
        // Everything is re-derived from the caches: a new leader converges from whatever state it finds.
        reconciler.images.initialPending.clear();
        for (const cr of caches.filterDeployments.list())
          reconciler.images.initialPending.add(crId(cr.metadata.namespace, cr.metadata.name));
        enqueueEverything();
      },
      onStoppedLeading: () => metrics.leader.set(0),
    },
    log,
  );

  let server: Http1Server | undefined;
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

  // Optional caches sync when their CRD is served, and retry quietly otherwise; nothing waits for them.
  // Once one syncs (its CRD was installed), the CRs that wait for it are looked at again.
  const optionalStarts = caches.optional.map((i) =>
    i.start().then(() => {
      if (!stopping) caches.enqueueAllFilters();
    }),
  );
  await Promise.all(caches.required.map((i) => i.start()));
  synced = true;
  // The first lists were a burst too (a standby replica never reconciles).
  const idle = new IdleCollector();
  idle.worked();
  const workerDeps = {
    queue,
    reconcile: (key: QueueKey) => reconciler.reconcile(key),
    isLeader: () => elector.isLeader(),
    metrics,
    log,
    idle,
  };
  const workers = Array.from({ length: options.workers ?? 4 }, () => runWorker(workerDeps));
  elector.start();
  const resync = setInterval(() => {
    if (elector.isLeader()) enqueueEverything();
  }, options.resyncMs ?? 600_000);
  resync.unref();
  log.info({ identity, namespace, meshConfig, nodeGate, port: boundPort }, 'controller started');

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
      idle.stop();
      await elector.stop();
      queue.shutDown();
      await Promise.all(workers);
      await Promise.all([...caches.required, ...caches.optional].map((i) => i.stop()));
      await Promise.all(optionalStarts);
      if (server) await server.close(); // idle connections close; a scrape in flight finishes
      client.close();
      log.info({ identity }, 'controller stopped');
    },
  };
}
