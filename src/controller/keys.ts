/**
 * Queue keys, typed: one per CR, one per workload, one for the images ConfigMap. The queue deduplicates
 * on `keyId`; nothing ever parses an id back, so a name can hold any character the API allows.
 */
import type { WorkloadKind } from '../mesh/index.js';

export type QueueKey =
  | { kind: 'filter'; namespace: string; name: string }
  | { kind: 'workload'; workloadKind: WorkloadKind; namespace: string; name: string }
  | { kind: 'images' };

export const filterKey = (namespace: string, name: string): QueueKey => ({ kind: 'filter', namespace, name });
export const workloadKey = (workloadKind: WorkloadKind, namespace: string, name: string): QueueKey => ({
  kind: 'workload',
  workloadKind,
  namespace,
  name,
});
export const IMAGES_KEY: QueueKey = { kind: 'images' };

/** The identity of a key for deduplication (`fd/ns/name`, `wl/Kind/ns/name`, `images`; also logged). */
export function keyId(key: QueueKey): string {
  switch (key.kind) {
    case 'filter':
      return `fd/${key.namespace}/${key.name}`;
    case 'workload':
      return `wl/${key.workloadKind}/${key.namespace}/${key.name}`;
    case 'images':
      return 'images';
  }
}

/** `namespace/name` of a CR: the value of the EnvoyFilter's source annotation and of the status maps. */
export const crId = (namespace: string, name: string): string => `${namespace}/${name}`;
