/**
 * The node gate (pure): a pod of a filtered workload is only scheduled to a node that holds the module
 * its mesh config names. The controller labels each node whose agent reports a CR's current digest with
 * that CR's label (`filters.wasm.meshwasm.io/<namespace>.<name>`), and every workload the CR selects
 * requires the label in its pod template's node affinity (`Exists`, so a new digest changes no template
 * and restarts no pod). A node added later, or whose agent is still syncing, has no label: the pods wait
 * in Pending instead of starting against a file that is not there (wasme's "Invalid path"). Pods already
 * running are never evicted (IgnoredDuringExecution), and pods of other workloads are not affected.
 */

export const NODE_LABEL_PREFIX = 'filters.wasm.meshwasm.io';
export const NODE_LABEL_VALUE = 'true';

/** The node label of one CR: `<prefix>/<namespace>.<name>`, hashed down to the 63-character name limit. */
export function nodeLabelKey(namespace: string, name: string): string {
  const full = `${namespace}.${name}`;
  if (full.length <= 63) return `${NODE_LABEL_PREFIX}/${full}`;
  let h = 0x811c9dc5;
  for (let i = 0; i < full.length; i++) h = Math.imul(h ^ full.charCodeAt(i), 0x01000193) >>> 0;
  const head = full.slice(0, 54).replace(/[^a-z0-9]+$/, '');
  return `${NODE_LABEL_PREFIX}/${head}-${h.toString(16).padStart(8, '0')}`;
}

export const isNodeGateKey = (key: string): boolean => key.startsWith(`${NODE_LABEL_PREFIX}/`);

export interface NodeSelectorRequirement {
  key: string;
  operator: string;
  values?: string[];
}
export interface NodeSelectorTerm {
  matchExpressions?: NodeSelectorRequirement[];
  matchFields?: NodeSelectorRequirement[];
}
export interface NodeSelector {
  nodeSelectorTerms: NodeSelectorTerm[];
}

const same = (a: unknown, b: unknown) => JSON.stringify(a) === JSON.stringify(b);

/**
 * The required node selector a pod template should have: the user's own terms with exactly `keys` as
 * `Exists` requirements in every term (terms are ORed, so each must carry them), or one term of ours when
 * the user has none. Undefined: no required node affinity at all.
 */
export function gatedNodeSelector(
  current: NodeSelector | undefined,
  keys: readonly string[],
): NodeSelector | undefined {
  const ours = [...new Set(keys)].sort().map((key) => ({ key, operator: 'Exists' }));
  const userTerms = (current?.nodeSelectorTerms ?? [])
    .map((t) => ({ ...t, matchExpressions: (t.matchExpressions ?? []).filter((e) => !isNodeGateKey(e.key)) }))
    // A term left empty held only our requirements: it was ours.
    .filter((t) => t.matchExpressions.length > 0 || (t.matchFields?.length ?? 0) > 0)
    .map((t): NodeSelectorTerm => {
      const { matchExpressions, ...rest } = t;
      return matchExpressions.length > 0 ? { ...rest, matchExpressions } : rest;
    });
  if (userTerms.length === 0)
    return ours.length > 0 ? { nodeSelectorTerms: [{ matchExpressions: ours }] } : undefined;
  return {
    nodeSelectorTerms: userTerms.map((t) =>
      ours.length > 0 ? { ...t, matchExpressions: [...(t.matchExpressions ?? []), ...ours] } : t,
    ),
  };
}

/** The merge patch for the pod template's required node affinity, or undefined when it is right. */
export function nodeGatePatch(
  current: NodeSelector | undefined,
  keys: readonly string[],
): { spec: { template: { spec: { affinity: { nodeAffinity: Record<string, unknown> } } } } } | undefined {
  const next = gatedNodeSelector(current, keys);
  if (same(next, current) || (next === undefined && current === undefined)) return undefined;
  return {
    spec: {
      template: {
        spec: {
          affinity: { nodeAffinity: { requiredDuringSchedulingIgnoredDuringExecution: next ?? null } },
        },
      },
    },
  };
}

/** The gate keys a pod template requires now. */
export function gateKeysOf(current: NodeSelector | undefined): string[] {
  const keys = new Set<string>();
  for (const t of current?.nodeSelectorTerms ?? [])
    for (const e of t.matchExpressions ?? [])
      if (isNodeGateKey(e.key) && e.operator === 'Exists') keys.add(e.key);
  return [...keys].sort();
}
