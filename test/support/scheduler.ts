/**
 * A minimal stand-in for kube-scheduler, for the test API server (which has no scheduler): it binds a
 * pending pod to the first node (by name) that satisfies the pod's nodeSelector and its required node
 * affinity (terms ORed; In, NotIn, Exists, DoesNotExist on labels; matchFields on metadata.name), by
 * setting spec.nodeName. That is the part of scheduling the node gate depends on; nothing else
 * (resources, taints, spreading) is modelled.
 */
import { Resources, type KubeClient, type KubeObject } from '../../src/kube/index.js';

interface Requirement {
  key: string;
  operator: string;
  values?: string[];
}
type Pod = KubeObject & {
  spec: {
    nodeName?: string;
    nodeSelector?: Record<string, string>;
    affinity?: {
      nodeAffinity?: {
        requiredDuringSchedulingIgnoredDuringExecution?: {
          nodeSelectorTerms: { matchExpressions?: Requirement[]; matchFields?: Requirement[] }[];
        };
      };
    };
  };
};
type Node = KubeObject & { metadata: { labels?: Record<string, string> } };

function satisfies(value: string | undefined, r: Requirement): boolean {
  switch (r.operator) {
    case 'In':
      return value !== undefined && (r.values ?? []).includes(value);
    case 'NotIn':
      return value === undefined || !(r.values ?? []).includes(value);
    case 'Exists':
      return value !== undefined;
    case 'DoesNotExist':
      return value === undefined;
    default:
      return false;
  }
}

export function fits(pod: Pod, node: Node): boolean {
  const labels = node.metadata.labels ?? {};
  for (const [k, v] of Object.entries(pod.spec.nodeSelector ?? {})) if (labels[k] !== v) return false;
  const terms =
    pod.spec.affinity?.nodeAffinity?.requiredDuringSchedulingIgnoredDuringExecution?.nodeSelectorTerms;
  if (!terms) return true;
  return terms.some(
    (t) =>
      (t.matchExpressions ?? []).every((r) => satisfies(labels[r.key], r)) &&
      (t.matchFields ?? []).every((r) => r.key === 'metadata.name' && satisfies(node.metadata.name, r)),
  );
}

/** One scheduling pass over the pending pods of `namespace`; returns pod name -> node bound now. */
export async function schedulePending(client: KubeClient, namespace: string): Promise<Map<string, string>> {
  const bound = new Map<string, string>();
  const nodes = (await client.list<Node>(Resources.nodes)).items.sort((a, b) =>
    a.metadata.name.localeCompare(b.metadata.name),
  );
  for (const pod of (await client.list<Pod>(Resources.pods, namespace)).items) {
    if (pod.spec.nodeName || pod.metadata.deletionTimestamp) continue;
    const node = nodes.find((n) => fits(pod, n));
    if (!node) continue;
    await client.patch(Resources.pods, namespace, pod.metadata.name, {
      metadata: { resourceVersion: pod.metadata.resourceVersion },
      spec: { nodeName: node.metadata.name },
    });
    bound.set(pod.metadata.name, node.metadata.name);
  }
  return bound;
}
