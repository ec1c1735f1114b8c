/**
 * Service accounts and least-privilege RBAC (pure). Cluster-wide rights are only what reconciling CRs in
 * every namespace needs; everything in the install namespace is a Role, and the two named objects the
 * parts share (the images ConfigMap, the pull secret) are granted by resourceNames, so readers must
 * list/watch them with the field selector `metadata.name=<name>`.
 */
import {
  AGENT_NAME,
  API_GROUP,
  CONTROLLER_NAME,
  FILTER_DEPLOYMENT_PLURAL,
  IMAGES_CONFIGMAP_NAME,
  LEADER_LEASE_NAME,
  PULL_SECRET_NAME,
  type KubeObject,
} from '../types.js';
import { commonLabels } from './labels.js';

interface PolicyRule {
  apiGroups: string[];
  resources: string[];
  verbs: string[];
  resourceNames?: string[];
}

export function serviceAccount(name: string, namespace: string): KubeObject {
  return {
    apiVersion: 'v1',
    kind: 'ServiceAccount',
    metadata: { name, namespace, labels: commonLabels(name) },
  };
}

const controllerClusterRules: PolicyRule[] = [
  {
    apiGroups: [API_GROUP],
    resources: [FILTER_DEPLOYMENT_PLURAL],
    verbs: ['get', 'list', 'watch', 'update', 'patch'],
  },
  {
    apiGroups: [API_GROUP],
    resources: [`${FILTER_DEPLOYMENT_PLURAL}/status`],
    verbs: ['get', 'update', 'patch'],
  },
  // Needed to set blockOwnerDeletion on the EnvoyFilters it owns.
  { apiGroups: [API_GROUP], resources: [`${FILTER_DEPLOYMENT_PLURAL}/finalizers`], verbs: ['update'] },
  {
    apiGroups: ['networking.istio.io'],
    resources: ['envoyfilters'],
    verbs: ['get', 'list', 'watch', 'create', 'update', 'patch', 'delete'],
  },
  {
    apiGroups: ['extensions.istio.io'],
    resources: ['wasmplugins'],
    verbs: ['get', 'list', 'watch', 'create', 'update', 'patch', 'delete'],
  },
  {
    apiGroups: ['apps'],
    resources: ['deployments', 'statefulsets', 'daemonsets'],
    verbs: ['get', 'list', 'watch', 'update', 'patch'],
  },
  { apiGroups: [''], resources: ['events'], verbs: ['create', 'patch'] },
  { apiGroups: ['events.k8s.io'], resources: ['events'], verbs: ['create', 'patch'] },
  // The node gate: a CR's label on the nodes that hold its module.
  { apiGroups: [''], resources: ['nodes'], verbs: ['get', 'list', 'watch', 'patch'] },
];

const controllerNamespaceRules: PolicyRule[] = [
  { apiGroups: [''], resources: ['configmaps'], verbs: ['create'] },
  {
    apiGroups: [''],
    resources: ['configmaps'],
    verbs: ['get', 'list', 'watch', 'update', 'patch'],
    resourceNames: [IMAGES_CONFIGMAP_NAME],
  },
  {
    apiGroups: [''],
    resources: ['secrets'],
    verbs: ['get', 'list', 'watch'],
    resourceNames: [PULL_SECRET_NAME],
  },
  // The agent pods report their modules in an annotation.
  { apiGroups: [''], resources: ['pods'], verbs: ['get', 'list', 'watch'] },
  { apiGroups: ['coordination.k8s.io'], resources: ['leases'], verbs: ['create'] },
  {
    apiGroups: ['coordination.k8s.io'],
    resources: ['leases'],
    verbs: ['get', 'watch', 'update', 'patch'],
    resourceNames: [LEADER_LEASE_NAME],
  },
];

const agentNamespaceRules: PolicyRule[] = [
  {
    apiGroups: [''],
    resources: ['configmaps'],
    verbs: ['get', 'list', 'watch'],
    resourceNames: [IMAGES_CONFIGMAP_NAME],
  },
  {
    apiGroups: [''],
    resources: ['secrets'],
    verbs: ['get', 'list', 'watch'],
    resourceNames: [PULL_SECRET_NAME],
  },
  // Its own pod: the modules annotation. Kubernetes cannot scope this to "self", so it is the namespace.
  { apiGroups: [''], resources: ['pods'], verbs: ['get', 'patch'] },
  { apiGroups: [''], resources: ['events'], verbs: ['create', 'patch'] },
  { apiGroups: ['events.k8s.io'], resources: ['events'], verbs: ['create', 'patch'] },
];

function role(
  kind: 'Role' | 'ClusterRole',
  name: string,
  namespace: string | undefined,
  rules: PolicyRule[],
): KubeObject {
  return {
    apiVersion: 'rbac.authorization.k8s.io/v1',
    kind,
    metadata: { name, ...(namespace !== undefined ? { namespace } : {}), labels: commonLabels(name) },
    rules: rules.map((r) => ({ ...r })),
  };
}

function binding(kind: 'RoleBinding' | 'ClusterRoleBinding', name: string, namespace: string): KubeObject {
  return {
    apiVersion: 'rbac.authorization.k8s.io/v1',
    kind,
    metadata: { name, ...(kind === 'RoleBinding' ? { namespace } : {}), labels: commonLabels(name) },
    roleRef: {
      apiGroup: 'rbac.authorization.k8s.io',
      kind: kind === 'RoleBinding' ? 'Role' : 'ClusterRole',
      name,
    },
    subjects: [{ kind: 'ServiceAccount', name, namespace }],
  };
}

export function rbacObjects(namespace: string): KubeObject[] {
  return [
    serviceAccount(CONTROLLER_NAME, namespace),
    serviceAccount(AGENT_NAME, namespace),
    role('ClusterRole', CONTROLLER_NAME, undefined, controllerClusterRules),
    binding('ClusterRoleBinding', CONTROLLER_NAME, namespace),
    role('Role', CONTROLLER_NAME, namespace, controllerNamespaceRules),
    binding('RoleBinding', CONTROLLER_NAME, namespace),
    role('Role', AGENT_NAME, namespace, agentNamespaceRules),
    binding('RoleBinding', AGENT_NAME, namespace),
  ];
}
