/** The API resources meshwasm reads and writes, and their REST paths (no discovery round trip needed). */
export interface ResourceRef {
  group: string; // '' for core
  version: string;
  plural: string;
  kind: string;
  namespaced: boolean;
}

const ref = (
  group: string,
  version: string,
  plural: string,
  kind: string,
  namespaced = true,
): ResourceRef => ({
  group,
  version,
  plural,
  kind,
  namespaced,
});

export const Resources = {
  namespaces: ref('', 'v1', 'namespaces', 'Namespace', false),
  pods: ref('', 'v1', 'pods', 'Pod'),
  configMaps: ref('', 'v1', 'configmaps', 'ConfigMap'),
  secrets: ref('', 'v1', 'secrets', 'Secret'),
  events: ref('', 'v1', 'events', 'Event'),
  deployments: ref('apps', 'v1', 'deployments', 'Deployment'),
  statefulSets: ref('apps', 'v1', 'statefulsets', 'StatefulSet'),
  daemonSets: ref('apps', 'v1', 'daemonsets', 'DaemonSet'),
  leases: ref('coordination.k8s.io', 'v1', 'leases', 'Lease'),
  crds: ref('apiextensions.k8s.io', 'v1', 'customresourcedefinitions', 'CustomResourceDefinition', false),
  envoyFilters: ref('networking.istio.io', 'v1alpha3', 'envoyfilters', 'EnvoyFilter'),
  filterDeployments: ref('istio.alibabacloud.com', 'v1beta1', 'asmfilterdeployments', 'ASMFilterDeployment'),
} as const;

export function apiVersionOf(r: ResourceRef): string {
  return r.group ? `${r.group}/${r.version}` : r.version;
}

/** `/apis/apps/v1/namespaces/ns/deployments/name/status`; namespace undefined lists across all namespaces. */
export function resourcePath(
  r: ResourceRef,
  namespace?: string,
  name?: string,
  subresource?: string,
): string {
  const base = r.group ? `/apis/${r.group}/${r.version}` : `/api/${r.version}`;
  const ns = r.namespaced && namespace ? `/namespaces/${encodeURIComponent(namespace)}` : '';
  const tail = name ? `/${encodeURIComponent(name)}${subresource ? `/${subresource}` : ''}` : '';
  return `${base}${ns}/${r.plural}${tail}`;
}
