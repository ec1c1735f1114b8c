/**
 * What the controller's caches keep of each object: the fields it reads (the types in types.ts and
 * agents.ts), nothing more, as client-go's informer transforms do. Measured with 1,000 CRs over 1,000
 * Deployments, their EnvoyFilters and the agents' pods cached, whole objects were most of the old
 * generation (~30 MB); a real cluster adds managedFields and whole pod specs to every object.
 * Writes never start from a cached object: patches name the fields they set, and the resourceVersion
 * they are sent over is kept here.
 */
import type { KubeObject } from '../kube/index.js';
import type { AgentPod } from './agents.js';
import type { Workload } from './types.js';

type Metadata = KubeObject['metadata'];

/** metadata without managedFields (server-side apply bookkeeping, often the bulk of an object). */
function lean(metadata: Metadata): Metadata {
  if (!('managedFields' in metadata)) return metadata;
  const { managedFields: _dropped, ...rest } = metadata as Metadata & { managedFields?: unknown };
  return rest;
}

/** The whole object but managedFields (the CRs: their spec and status are read). */
export function withoutManagedFields<T extends KubeObject>(obj: T): T {
  return { ...obj, metadata: lean(obj.metadata) };
}

/** Metadata only: the EnvoyFilters and WasmPlugins meshwasm wrote are found and deleted by name and annotations. */
export function metadataOnly<T extends KubeObject>(obj: T): T {
  return { apiVersion: obj.apiVersion, kind: obj.kind, metadata: lean(obj.metadata) } as T;
}

/** A workload's pod template labels, annotations and node affinity (what selection and the patches read). */
export function workloadFields(w: Workload): Workload {
  const template = w.spec?.template;
  const affinity = template?.spec?.affinity;
  return {
    apiVersion: w.apiVersion,
    kind: w.kind,
    metadata: lean(w.metadata),
    spec: {
      template: {
        ...(template?.metadata ? { metadata: template.metadata } : {}),
        ...(affinity ? { spec: { affinity } } : {}),
      },
    },
  };
}

/** An agent pod's node, phase and conditions (what readiness and distribution read). */
export function agentPodFields(pod: AgentPod): AgentPod {
  return {
    apiVersion: pod.apiVersion,
    kind: pod.kind,
    metadata: lean(pod.metadata),
    ...(pod.spec?.nodeName !== undefined ? { spec: { nodeName: pod.spec.nodeName } } : {}),
    ...(pod.status ? { status: { phase: pod.status.phase, conditions: pod.status.conditions } } : {}),
  };
}
