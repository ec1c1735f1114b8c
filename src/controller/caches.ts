/**
 * The informers the controller reads from, and which queue keys each change concerns. The handlers read
 * the caches lazily (a workload event asks which CRs select it), so they are built with the caches.
 */
import {
  AGENT_NAME,
  IMAGES_CONFIGMAP_NAME,
  INJECTED_ANNOTATION,
  MANAGED_BY_LABEL,
  MANAGED_BY_VALUE,
  NAME_LABEL,
  SOURCE_ANNOTATION,
  WORKLOAD_KINDS,
  type WorkloadKind,
} from '../mesh/index.js';
import { Informer, Resources, type KubeClient, type KubeObject } from '../kube/index.js';
import type { Logger } from '../log.js';
import type { AgentPod } from './agents.js';
import { agentPodFields, metadataOnly, withoutManagedFields, workloadFields } from './trim.js';
import { filterKey, IMAGES_KEY, workloadKey, type QueueKey } from './keys.js';
import {
  workloadResources,
  type Caches,
  type FilterDeploymentObject,
  type NodeObject,
  type Workload,
} from './types.js';

export interface CacheDeps {
  client: KubeClient;
  log: Logger;
  enqueue: (key: QueueKey) => void;
  /** true when the live, valid CR selects the workload (asked on every workload event) */
  targets: (cr: FilterDeploymentObject, kind: WorkloadKind, w: Workload) => boolean;
}

export interface ControllerCaches extends Caches {
  /** what readiness waits for */
  required: Informer<KubeObject>[];
  /** started too, but a cluster may not serve them (the WasmPlugin CRD unless it is the default) */
  optional: Informer<KubeObject>[];
  enqueueAllFilters(): void;
  /** Workloads that carry meshwasm's volume: re-checked at takeover and on resync (a CR may be gone). */
  enqueueInjectedWorkloads(): void;
}

export function createCaches(
  deps: CacheDeps,
  opts: { namespace: string; requireWasmPlugins: boolean; nodeGate: boolean },
): ControllerCaches {
  const { namespace } = opts;
  const { client, log, enqueue } = deps;
  const enqueueAllFilters = () => {
    for (const cr of caches.filterDeployments.list())
      enqueue(filterKey(cr.metadata.namespace, cr.metadata.name));
  };
  const enqueueInjectedWorkloads = () => {
    for (const kind of WORKLOAD_KINDS)
      for (const w of caches.workloads[kind].list())
        if (w.spec?.template?.metadata?.annotations?.[INJECTED_ANNOTATION])
          enqueue(workloadKey(kind, w.metadata.namespace!, w.metadata.name));
  };
  const onFilter = (cr: FilterDeploymentObject) =>
    enqueue(filterKey(cr.metadata.namespace, cr.metadata.name));
  // A workload change concerns the CRs that select it now or listed it before (labels may have changed).
  const enqueueFiltersOf = (kind: WorkloadKind, w: Workload) => {
    const ns = w.metadata.namespace!;
    const listed = `${kind}/${w.metadata.name}`;
    for (const cr of caches.filterDeployments.list(ns))
      if (deps.targets(cr, kind, w) || cr.status?.matchedWorkloads?.includes(listed))
        enqueue(filterKey(ns, cr.metadata.name));
  };
  const onWorkload = (kind: WorkloadKind) => {
    const changed = (w: Workload) => {
      enqueue(workloadKey(kind, w.metadata.namespace!, w.metadata.name));
      enqueueFiltersOf(kind, w);
    };
    return { add: changed, update: changed, delete: (w: Workload) => enqueueFiltersOf(kind, w) };
  };
  // The source annotation is `namespace/name` of the CR that owns the EnvoyFilter or WasmPlugin.
  const onMeshConfig = (ef: KubeObject) => {
    const source = ef.metadata.annotations?.[SOURCE_ANNOTATION];
    const slash = source?.indexOf('/') ?? -1;
    if (source && slash > 0) enqueue(filterKey(source.slice(0, slash), source.slice(slash + 1)));
  };

  const caches: Caches = {
    filterDeployments: new Informer<FilterDeploymentObject>(
      client,
      Resources.filterDeployments,
      { add: onFilter, update: onFilter, delete: onFilter },
      log,
      { transform: withoutManagedFields },
    ),
    workloads: Object.fromEntries(
      WORKLOAD_KINDS.map((kind) => [
        kind,
        new Informer<Workload>(client, workloadResources[kind], onWorkload(kind), log, {
          transform: workloadFields,
        }),
      ]),
    ) as Record<WorkloadKind, Informer<Workload>>,
    envoyFilters: new Informer<KubeObject>(
      client,
      Resources.envoyFilters,
      { update: onMeshConfig, delete: onMeshConfig },
      log,
      { labelSelector: `${MANAGED_BY_LABEL}=${MANAGED_BY_VALUE}`, transform: metadataOnly },
    ),
    wasmPlugins: new Informer<KubeObject>(
      client,
      Resources.wasmPlugins,
      { update: onMeshConfig, delete: onMeshConfig },
      log,
      { labelSelector: `${MANAGED_BY_LABEL}=${MANAGED_BY_VALUE}`, transform: metadataOnly },
    ),
    agents: new Informer<AgentPod>(
      client,
      Resources.pods,
      { add: enqueueAllFilters, update: enqueueAllFilters, delete: enqueueAllFilters },
      log,
      { namespace, labelSelector: `${NAME_LABEL}=${AGENT_NAME}`, transform: agentPodFields },
    ),
    // Only additions and removals matter (a new node is labelled once its agent reports); node status
    // heartbeats would otherwise re-reconcile every CR every few seconds. Label drift is fixed on resync.
    ...(opts.nodeGate
      ? {
          nodes: new Informer<NodeObject>(
            client,
            Resources.nodes,
            { add: enqueueAllFilters, delete: enqueueAllFilters },
            log,
            { transform: metadataOnly },
          ),
        }
      : {}),
    images: new Informer(
      client,
      Resources.configMaps,
      { update: () => enqueue(IMAGES_KEY), delete: () => enqueue(IMAGES_KEY) },
      log,
      { namespace, fieldSelector: `metadata.name=${IMAGES_CONFIGMAP_NAME}` },
    ),
  };
  const required = [
    caches.filterDeployments,
    ...Object.values(caches.workloads),
    caches.envoyFilters,
    caches.agents,
    caches.images,
    ...(caches.nodes ? [caches.nodes] : []),
  ] as unknown as Informer<KubeObject>[];
  const optional: Informer<KubeObject>[] = [];
  (opts.requireWasmPlugins ? required : optional).push(caches.wasmPlugins);
  return { ...caches, required, optional, enqueueAllFilters, enqueueInjectedWorkloads };
}
