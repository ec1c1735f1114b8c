/** The API resources meshwasm reads and writes, and their REST paths (no discovery round trip needed). */
import { MeshwasmError } from '../errors.js';

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
  nodes: ref('', 'v1', 'nodes', 'Node', false),
  configMaps: ref('', 'v1', 'configmaps', 'ConfigMap'),
  secrets: ref('', 'v1', 'secrets', 'Secret'),
  events: ref('', 'v1', 'events', 'Event'),
  serviceAccounts: ref('', 'v1', 'serviceaccounts', 'ServiceAccount'),
  roles: ref('rbac.authorization.k8s.io', 'v1', 'roles', 'Role'),
  roleBindings: ref('rbac.authorization.k8s.io', 'v1', 'rolebindings', 'RoleBinding'),
  clusterRoles: ref('rbac.authorization.k8s.io', 'v1', 'clusterroles', 'ClusterRole', false),
  clusterRoleBindings: ref(
    'rbac.authorization.k8s.io',
    'v1',
    'clusterrolebindings',
    'ClusterRoleBinding',
    false,
  ),
  deployments: ref('apps', 'v1', 'deployments', 'Deployment'),
  statefulSets: ref('apps', 'v1', 'statefulsets', 'StatefulSet'),
  daemonSets: ref('apps', 'v1', 'daemonsets', 'DaemonSet'),
  leases: ref('coordination.k8s.io', 'v1', 'leases', 'Lease'),
  crds: ref('apiextensions.k8s.io', 'v1', 'customresourcedefinitions', 'CustomResourceDefinition', false),
  envoyFilters: ref('networking.istio.io', 'v1alpha3', 'envoyfilters', 'EnvoyFilter'),
  wasmPlugins: ref('extensions.istio.io', 'v1alpha1', 'wasmplugins', 'WasmPlugin'),
  filterDeployments: ref('istio.alibabacloud.com', 'v1beta1', 'asmfilterdeployments', 'ASMFilterDeployment'),
} as const;

export function apiVersionOf(r: ResourceRef): string {
  return r.group ? `${r.group}/${r.version}` : r.version;
}

/** The resource of an object's apiVersion and kind (only the kinds meshwasm handles: no discovery). */
export function resourceFor(apiVersion: string, kind: string): ResourceRef {
  const found = Object.values(Resources).find((r) => r.kind === kind && apiVersionOf(r) === apiVersion);
  if (!found)
    throw new MeshwasmError('INTERNAL', `meshwasm has no REST mapping for ${apiVersion} ${kind}`, {
      hint: 'add it to Resources in src/kube/resources.ts',
    });
  return found;
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
