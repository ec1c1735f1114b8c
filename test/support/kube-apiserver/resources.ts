/**
 * The resource types the server serves: the built-in kinds the project uses plus whatever CRDs register.
 * One `ResourceType` per group/plural; CRDs may serve several versions of it (stored once, served under
 * the requested apiVersion, i.e. the CRD conversion strategy `None`).
 */
import type { JsonSchema } from './schema.js';

export interface ResourceType {
  group: string; // '' for the core group
  versions: string[]; // served versions, the first is the preferred one
  plural: string;
  singular: string;
  kind: string;
  namespaced: boolean;
  shortNames: string[];
  categories: string[];
  /** Has a `/status` subresource: the main resource ignores status, `/status` ignores everything else. */
  status: boolean;
  /** metadata.generation is maintained (bumped on any change outside metadata and status). */
  generation: boolean;
  /** Structural schemas per version (CRDs): validation, pruning and defaulting. */
  schemas?: Record<string, JsonSchema | undefined>;
  /** additionalPrinterColumns per version (CRDs), for Table output. */
  printerColumns?: Record<string, PrinterColumn[]>;
  /** Name of the CRD that registered this type. */
  crd?: string;
}

export interface PrinterColumn {
  name: string;
  type: string;
  jsonPath: string;
  description?: string;
  format?: string;
  priority?: number;
}

export const typeKey = (group: string, plural: string): string => `${group}/${plural}`;

function builtin(
  group: string,
  version: string,
  kind: string,
  plural: string,
  namespaced: boolean,
  opts: { shortNames?: string[]; status?: boolean; generation?: boolean } = {},
): ResourceType {
  return {
    group,
    versions: [version],
    plural,
    singular: kind.toLowerCase(),
    kind,
    namespaced,
    shortNames: opts.shortNames ?? [],
    categories: [],
    status: opts.status ?? false,
    generation: opts.generation ?? false,
  };
}

const workload = { status: true, generation: true };

export function builtinTypes(): ResourceType[] {
  return [
    builtin('', 'v1', 'Namespace', 'namespaces', false, { shortNames: ['ns'], status: true }),
    builtin('', 'v1', 'Node', 'nodes', false, { shortNames: ['no'], status: true }),
    builtin('', 'v1', 'Pod', 'pods', true, { shortNames: ['po'], status: true }),
    builtin('', 'v1', 'Service', 'services', true, { shortNames: ['svc'], status: true }),
    builtin('', 'v1', 'ConfigMap', 'configmaps', true, { shortNames: ['cm'] }),
    builtin('', 'v1', 'Secret', 'secrets', true),
    builtin('', 'v1', 'ServiceAccount', 'serviceaccounts', true, { shortNames: ['sa'] }),
    builtin('', 'v1', 'Event', 'events', true, { shortNames: ['ev'] }),
    builtin('apps', 'v1', 'Deployment', 'deployments', true, { shortNames: ['deploy'], ...workload }),
    builtin('apps', 'v1', 'StatefulSet', 'statefulsets', true, { shortNames: ['sts'], ...workload }),
    builtin('apps', 'v1', 'DaemonSet', 'daemonsets', true, { shortNames: ['ds'], ...workload }),
    builtin('apps', 'v1', 'ReplicaSet', 'replicasets', true, { shortNames: ['rs'], ...workload }),
    builtin('events.k8s.io', 'v1', 'Event', 'events', true, { shortNames: ['ev'] }),
    builtin('coordination.k8s.io', 'v1', 'Lease', 'leases', true),
    builtin('rbac.authorization.k8s.io', 'v1', 'Role', 'roles', true),
    builtin('rbac.authorization.k8s.io', 'v1', 'RoleBinding', 'rolebindings', true),
    builtin('rbac.authorization.k8s.io', 'v1', 'ClusterRole', 'clusterroles', false),
    builtin('rbac.authorization.k8s.io', 'v1', 'ClusterRoleBinding', 'clusterrolebindings', false),
    builtin('apiextensions.k8s.io', 'v1', 'CustomResourceDefinition', 'customresourcedefinitions', false, {
      shortNames: ['crd', 'crds'],
      status: true,
      generation: true,
    }),
  ];
}

/** Lookup of resource types by group/plural and by group/version (for discovery and routing). */
export class ResourceRegistry {
  private readonly types = new Map<string, ResourceType>();

  constructor(initial: ResourceType[]) {
    for (const t of initial) this.add(t);
  }

  add(t: ResourceType): void {
    this.types.set(typeKey(t.group, t.plural), t);
  }

  remove(group: string, plural: string): void {
    this.types.delete(typeKey(group, plural));
  }

  get(group: string, version: string, plural: string): ResourceType | undefined {
    const t = this.types.get(typeKey(group, plural));
    return t && t.versions.includes(version) ? t : undefined;
  }

  byKey(key: string): ResourceType | undefined {
    return this.types.get(key);
  }

  all(): ResourceType[] {
    return [...this.types.values()];
  }

  /** Groups with their served versions, core group excluded, in a stable order. */
  groups(): Map<string, string[]> {
    const out = new Map<string, string[]>();
    for (const t of this.types.values()) {
      if (!t.group) continue;
      const versions = out.get(t.group) ?? [];
      for (const v of t.versions) if (!versions.includes(v)) versions.push(v);
      out.set(t.group, versions);
    }
    return new Map([...out.entries()].sort(([a], [b]) => a.localeCompare(b)));
  }

  inGroupVersion(group: string, version: string): ResourceType[] {
    return this.all().filter((t) => t.group === group && t.versions.includes(version));
  }
}
