/** What the controller's parts share: the cached object shapes, the caches, the queue keys. */
import type { ASMFilterDeployment, MeshConfigKind, NodeSelector, WorkloadKind } from '../mesh/index.js';
import { Resources, type Informer, type KubeObject, type ResourceRef } from '../kube/index.js';
import type { AgentPod } from './agents.js';

/** Resolves a reference to its manifest digest; `dockerConfigJson` is the pull secret's content, if any. */
export type Resolver = (reference: string, dockerConfigJson: string | undefined) => Promise<string>;
/** The sha256 (`sha256:<hex>`) of the module a pinned reference holds. */
export type ModuleResolver = (
  pinnedReference: string,
  dockerConfigJson: string | undefined,
) => Promise<string>;

/**
 * Verifies the signature of `reference`'s `digest` under the controller's policy; resolves with who
 * signed it, throws (a SIGNATURE error when no trusted signature verifies) otherwise.
 */
export type SignatureVerifier = (
  reference: string,
  digest: string,
  dockerConfigJson: string | undefined,
) => Promise<{ signer: string }>;

export type FilterDeploymentObject = KubeObject &
  ASMFilterDeployment & { metadata: { name: string; namespace: string } };
export type Workload = KubeObject & {
  spec?: {
    template?: {
      metadata?: { labels?: Record<string, string>; annotations?: Record<string, string> };
      spec?: {
        affinity?: { nodeAffinity?: { requiredDuringSchedulingIgnoredDuringExecution?: NodeSelector } };
      };
    };
  };
};
/** A Node as the node gate reads it. */
export type NodeObject = KubeObject & { metadata: { labels?: Record<string, string> } };

export interface Caches {
  filterDeployments: Informer<FilterDeploymentObject>;
  workloads: Record<WorkloadKind, Informer<Workload>>;
  envoyFilters: Informer<KubeObject>;
  /** optional: a cluster without the WasmPlugin CRD never syncs it (see meshConfigServed) */
  wasmPlugins: Informer<KubeObject>;
  /** only with the node gate */
  nodes?: Informer<NodeObject>;
  agents: Informer<AgentPod>;
  images: Informer<KubeObject & { data?: Record<string, string> }>;
}

/** Where each kind of generated mesh config lives. */
export const meshConfigResources: Record<MeshConfigKind, ResourceRef> = {
  EnvoyFilter: Resources.envoyFilters,
  WasmPlugin: Resources.wasmPlugins,
};

export const workloadResources: Record<WorkloadKind, ResourceRef> = {
  Deployment: Resources.deployments,
  StatefulSet: Resources.statefulSets,
  DaemonSet: Resources.daemonSets,
};

/** A CR's workload labels select a workload by its pod template's labels (what Istio's selector sees). */
export function selects(labels: Record<string, string>, w: Workload): boolean {
  const podLabels = w.spec?.template?.metadata?.labels ?? {};
  return Object.entries(labels).every(([k, v]) => podLabels[k] === v);
}
