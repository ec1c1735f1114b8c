/**
 * The images ConfigMap (pure): the controller writes, and the agent reads, the sorted list of pinned
 * references (`registry/repository@sha256:...`) that the cluster's ASMFilterDeployments need, one a line.
 * Sorting and de-duplicating makes the content a function of the set, so an unchanged set is no write.
 */
import {
  DEFAULT_NAMESPACE,
  IMAGES_CONFIGMAP_KEY,
  IMAGES_CONFIGMAP_NAME,
  MANAGED_BY_LABEL,
  MANAGED_BY_VALUE,
  type KubeObject,
} from './types.js';

/** Sorted, unique, one a line with a trailing newline; the empty set is the empty string. */
export function renderImagesList(pinnedRefs: Iterable<string>): string {
  const unique = [...new Set(pinnedRefs)].filter((r) => r.length > 0).sort();
  return unique.length === 0 ? '' : `${unique.join('\n')}\n`;
}

/** The references in an images list (blank lines and `#` comments ignored), sorted and unique. */
export function parseImagesList(text: string | undefined): string[] {
  if (!text) return [];
  const refs = text
    .split(/\r?\n/)
    .map((line) => line.trim())
    .filter((line) => line.length > 0 && !line.startsWith('#'));
  return [...new Set(refs)].sort();
}

export interface ConfigMap extends KubeObject {
  apiVersion: 'v1';
  kind: 'ConfigMap';
  data: Record<string, string>;
}

/** The whole ConfigMap `<namespace>/asmwasm-images` for a set of pinned references. */
export function imagesConfigMap(
  pinnedRefs: Iterable<string> = [],
  namespace: string = DEFAULT_NAMESPACE,
): ConfigMap {
  return {
    apiVersion: 'v1',
    kind: 'ConfigMap',
    metadata: {
      name: IMAGES_CONFIGMAP_NAME,
      namespace,
      labels: { [MANAGED_BY_LABEL]: MANAGED_BY_VALUE },
    },
    data: { [IMAGES_CONFIGMAP_KEY]: renderImagesList(pinnedRefs) },
  };
}
