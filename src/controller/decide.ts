/**
 * The decision for one ASMFilterDeployment (pure): from what the reconciler read (the CR, its validation,
 * the digest its image resolved to, the mesh config it owns, the workloads it selects, what the agents
 * report, since when it has been waiting), what to write and in which order. The reconciler reads,
 * calls this, and executes the result; every outcome is tested as a table without a cluster or a clock.
 */
import {
  DIGEST_ANNOTATION,
  formatFieldErrors,
  gateKeysOf,
  hasWasmVolumes,
  pinnedReference,
  renderFilterDeployment,
  type EnvoyFilter,
  type FilterDeploymentStatus,
  type MeshConfigKind,
  type ValidationResult,
  type ValidFilterDeployment,
  type WasmPlugin,
} from '../mesh/index.js';
import { describeError } from '../errors.js';
import type { Distribution } from './agents.js';
import { IMAGES_KEY, workloadKey, type QueueKey } from './keys.js';
import type { ConditionInput } from './status.js';
import { workloadResources, type FilterDeploymentObject, type Workload } from './types.js';

export type FilterOutcome =
  | 'Gone'
  | 'InvalidSpec'
  | 'ResolveFailed'
  | 'SignatureRejected'
  | 'RenderFailed'
  | 'MeshConfigUnavailable'
  | 'NoReadyAgents'
  | 'Distributing'
  | 'DistributionTimeout'
  | 'WorkloadsPending'
  | 'Applied';

/** The outcome of verifying the resolved digest's signature (only with a verification policy). */
export type SignatureCheck =
  /** `signer`: the key or identity whose signature verified */
  | { signer: string }
  /** `reason`: Untrusted (no trusted signature verifies) or VerificationError (could not check) */
  | { problem: string; reason: 'Untrusted' | 'VerificationError' };

export interface WaitingState {
  digest: string;
  /** when the CR started waiting for the agents to report `digest` (ms since the epoch) */
  since: number;
}

export interface OwnedMeshConfig {
  name: string;
  digest: string | undefined;
}

export interface NodeGateInput {
  key: string;
  /** nodes that carry the label now */
  labelled: string[];
  /** every node there is */
  nodes: string[];
  /** the digests each node's agent pod reports (any pod not being deleted, ready or not: the files are there) */
  reports: { node: string; digests: string[] }[];
}

export interface FilterInput {
  now: number;
  /** undefined: the CR is gone */
  cr: FilterDeploymentObject | undefined;
  validation: ValidationResult | undefined;
  /**
   * The tag's digest (or the last known one, with the problem of the failed re-resolution); for a
   * WasmPlugin also the module's own sha256 (or why it could not be read).
   */
  resolution: { digest?: string; problem?: string; moduleSha256?: string; moduleProblem?: string };
  /** the resolved digest's signature check; undefined without a verification policy */
  signature?: SignatureCheck;
  /** the EnvoyFilter and the WasmPlugin this CR owns, if any, and the digest each loads */
  owned: Partial<Record<MeshConfigKind, OwnedMeshConfig>>;
  /** whether the cluster serves each kind (the WasmPlugin CRD may be missing) */
  served: Record<MeshConfigKind, boolean>;
  /** workloads of the CR's kind in its namespace that its labels select */
  workloads: Workload[];
  agents: Distribution;
  waiting: WaitingState | undefined;
  /** with the node gate: this CR's node label, the nodes that carry it, and what every node's agent reports */
  nodeGate?: NodeGateInput;
  options: {
    /** where the agents run (for messages) */
    namespace: string;
    distributionTimeoutMs: number;
    tagRefreshMs: number;
    filtersDir?: string;
  };
}

export type MeshConfigAction =
  /** create or update `object`; then delete `replaces`, the object of the other kind (a switch of kind) */
  | { action: 'apply'; object: EnvoyFilter | WasmPlugin; replaces?: { kind: MeshConfigKind; name: string } }
  /** delete whatever this CR owns */
  | { action: 'remove' }
  | { action: 'keep' };

/** What to write, in this order: images, keys, mesh config, images after, waiting state, status, error. */
export interface FilterDecision {
  outcome: FilterOutcome;
  /** the CR's contribution to the images ConfigMap, written before the mesh config */
  images?: Set<string>;
  enqueue: QueueKey[];
  /** re-check every workload of the CR's namespace (it may have to lose the module volume) */
  recheckNamespace: boolean;
  meshConfig: MeshConfigAction;
  /** the contribution once the mesh config is written: a new set, or dropped */
  imagesAfter?: Set<string> | 'forget';
  waiting: 'keep' | 'clear' | WaitingState;
  status?: { fields: FilterDeploymentStatus; conditions: ConditionInput[] };
  requeueAfterMs?: number;
  /** the reconcile fails with this message (after the writes) and is retried with backoff */
  error?: string;
  /** node labels to set and remove, written before the mesh config */
  nodeLabels?: { key: string; add: string[]; remove: string[] };
}

const meshConfigApi: Record<MeshConfigKind, string> = {
  EnvoyFilter: 'networking.istio.io/v1alpha3',
  WasmPlugin: 'extensions.istio.io/v1alpha1',
};
/** How often a CR whose kind the cluster does not serve looks again (the CRD may be installed). */
const MESH_CONFIG_RECHECK_MS = 30_000;

const nothing = (outcome: FilterOutcome): FilterDecision => ({
  outcome,
  enqueue: [],
  recheckNamespace: false,
  meshConfig: { action: 'keep' },
  waiting: 'keep',
});

/** The image (or its module) could not be read: nothing changes but the conditions, which say why. */
function resolveFailed(
  images: FilterDecision['images'],
  appliedDigest: string | undefined,
  message: string,
  notDistributedBecause: string,
  readyMessage: string,
): FilterDecision {
  return {
    ...nothing('ResolveFailed'),
    images,
    status: {
      fields: { digest: appliedDigest },
      conditions: [
        { type: 'ImageResolved', status: 'False', reason: 'ResolveFailed', message },
        {
          type: 'ModuleDistributed',
          status: 'Unknown',
          reason: 'ResolveFailed',
          message: notDistributedBecause,
        },
        { type: 'Ready', status: 'False', reason: 'ResolveFailed', message: readyMessage },
      ],
    },
    error: message,
  };
}

export function decideFilter(input: FilterInput): FilterDecision {
  const decision = withSignature(decideMeshConfig(input), input);
  const gate = input.nodeGate;
  if (!gate) return decision;
  // The label says: this node holds the module the mesh config names (or, before there is one, the
  // module it is about to name). Nodes that lose it keep their running pods; new ones wait elsewhere.
  let target: string | undefined;
  if (decision.outcome === 'Gone' || decision.outcome === 'InvalidSpec') target = undefined;
  else if (decision.meshConfig.action === 'apply')
    target = decision.meshConfig.object.metadata.annotations?.[DIGEST_ANNOTATION];
  else {
    target =
      input.owned.EnvoyFilter?.digest ??
      input.owned.WasmPlugin?.digest ??
      // A refused digest is never the one a node is labelled for.
      (decision.outcome === 'SignatureRejected' ? undefined : input.resolution.digest);
    if (target === undefined) return decision; // nothing known yet: leave the labels as they are
  }
  const known = new Set(gate.nodes);
  const holders = new Set(
    target === undefined
      ? []
      : gate.reports.filter((r) => known.has(r.node) && r.digests.includes(target)).map((r) => r.node),
  );
  const labelled = new Set(gate.labelled);
  const add = [...holders].filter((n) => !labelled.has(n)).sort();
  const remove = [...labelled].filter((n) => !holders.has(n)).sort();
  if (add.length === 0 && remove.length === 0) return decision;
  return { ...decision, nodeLabels: { key: gate.key, add, remove } };
}

/**
 * A verified digest says so (and by whom) next to ImageResolved in every status written about it; a
 * refusal writes its own conditions.
 */
function withSignature(decision: FilterDecision, input: FilterInput): FilterDecision {
  const { signature } = input;
  const digest = input.resolution.digest;
  if (!signature || !('signer' in signature) || !digest || !decision.status) return decision;
  const conditions = decision.status.conditions;
  const at = conditions.findIndex((c) => c.type === 'ImageResolved') + 1;
  if (at === 0 || conditions.some((c) => c.type === 'SignatureVerified')) return decision;
  const verified: ConditionInput = {
    type: 'SignatureVerified',
    status: 'True',
    reason: 'Verified',
    message: `${digest} is signed by ${signature.signer}`,
  };
  return {
    ...decision,
    status: {
      ...decision.status,
      conditions: [...conditions.slice(0, at), verified, ...conditions.slice(at)],
    },
  };
}

/** With a policy, a digest no trusted signer signed goes nowhere; the applied module keeps running. */
function signatureRejected(
  fd: ValidFilterDeployment,
  digest: string,
  applied: { kind: MeshConfigKind; name: string; digest: string | undefined } | undefined,
  problem: { problem: string; reason: 'Untrusted' | 'VerificationError' },
): FilterDecision {
  const appliedDigest = applied?.digest;
  // Only the applied module stays in the images ConfigMap: no agent is asked for the refused one.
  const images = new Set<string>();
  if (appliedDigest) images.add(pinnedReference(fd.filter.reference, appliedDigest));
  const message = `${digest} of ${fd.filter.image} is not accepted: ${problem.problem}`;
  const keeps = appliedDigest
    ? `; ${applied!.kind} ${applied!.name} keeps the module ${appliedDigest}`
    : '; nothing is applied';
  return {
    ...nothing('SignatureRejected'),
    images,
    status: {
      fields: { digest: appliedDigest },
      conditions: [
        {
          type: 'ImageResolved',
          status: 'True',
          reason: 'Resolved',
          message: `${fd.filter.image} is ${digest}`,
        },
        { type: 'SignatureVerified', status: 'False', reason: problem.reason, message },
        {
          type: 'ModuleDistributed',
          status: 'Unknown',
          reason: 'SignatureRejected',
          message: 'the digest is not distributed until its signature verifies',
        },
        { type: 'Ready', status: 'False', reason: 'SignatureRejected', message: `${message}${keeps}` },
      ],
    },
    // Retried with backoff: the signature may be pushed after the image.
    error: message,
  };
}

function decideMeshConfig(input: FilterInput): FilterDecision {
  const { cr, options: opts } = input;
  if (!cr || !input.validation) {
    // Gone without our finalizer (or after it): make sure nothing of it is left behind.
    return {
      ...nothing('Gone'),
      enqueue: [IMAGES_KEY],
      recheckNamespace: true,
      imagesAfter: 'forget',
      waiting: 'clear',
    };
  }
  if (!input.validation.ok) {
    const c = {
      status: 'False',
      reason: 'InvalidSpec',
      message: formatFieldErrors(input.validation.errors),
    } as const;
    return {
      ...nothing('InvalidSpec'),
      enqueue: [IMAGES_KEY],
      recheckNamespace: true,
      meshConfig: { action: 'remove' },
      imagesAfter: 'forget',
      waiting: 'clear',
      status: {
        fields: {},
        conditions: [
          { type: 'ImageResolved', ...c },
          { type: 'ModuleDistributed', ...c },
          { type: 'Ready', ...c },
        ],
      },
    };
  }
  const fd = input.validation.value;
  const ns = cr.metadata.namespace;
  const kind = fd.meshConfig;
  const other: MeshConfigKind = kind === 'EnvoyFilter' ? 'WasmPlugin' : 'EnvoyFilter';
  // What the mesh loads now: the object of the wanted kind, else (while switching) the other one.
  const appliedKind = input.owned[kind] ? kind : input.owned[other] ? other : undefined;
  const applied = appliedKind && { kind: appliedKind, ...input.owned[appliedKind]! };
  const appliedDigest = applied?.digest;
  const { digest, problem: resolveProblem } = input.resolution;

  // 1. The digest; the nodes keep the applied module until the mesh config names another.
  const images = new Set<string>();
  try {
    if (appliedDigest) images.add(pinnedReference(fd.filter.reference, appliedDigest));
    if (digest) images.add(pinnedReference(fd.filter.reference, digest));
  } catch (err) {
    // Only a resolver that hands back something else than a digest gets here; nothing is written.
    return { ...nothing('RenderFailed'), error: describeError(err) };
  }
  const refresh =
    fd.filter.imagePullPolicy === 'Always' && !fd.filter.reference.digest ? opts.tagRefreshMs : undefined;
  if (!digest) {
    const message = `cannot resolve ${fd.filter.image}: ${resolveProblem}`;
    const keeps = appliedDigest
      ? `; ${applied!.kind} ${applied!.name} keeps the module ${appliedDigest}`
      : '';
    return resolveFailed(images, appliedDigest, message, 'the image has no digest yet', `${message}${keeps}`);
  }
  // With a policy, the digest must be signed before it is distributed or rendered.
  if (input.signature && 'problem' in input.signature)
    return signatureRejected(fd, digest, applied, input.signature);
  if (!input.served[kind]) {
    const message = `this cluster does not serve ${kind} (${meshConfigApi[kind]}): install Istio's CRDs (WasmPlugin needs Istio 1.12 or later) or set spec.meshConfig to ${other}`;
    return {
      ...nothing('MeshConfigUnavailable'),
      images,
      status: {
        fields: { digest: appliedDigest },
        conditions: [
          {
            type: 'ImageResolved',
            status: 'True',
            reason: 'Resolved',
            message: `${fd.filter.image} is ${digest}`,
          },
          { type: 'ModuleDistributed', status: 'Unknown', reason: 'MeshConfigUnavailable', message },
          { type: 'Ready', status: 'False', reason: 'MeshConfigUnavailable', message },
        ],
      },
      requeueAfterMs: MESH_CONFIG_RECHECK_MS,
    };
  }
  if (kind === 'WasmPlugin' && input.resolution.moduleSha256 === undefined) {
    const message = `cannot read the module of ${fd.filter.image} (${digest}) for the WasmPlugin's sha256: ${input.resolution.moduleProblem}`;
    return resolveFailed(images, appliedDigest, message, 'the module sha256 is not known yet', message);
  }
  const rendered = renderFilterDeployment(cr, digest, {
    filtersDir: opts.filtersDir,
    defaultMeshConfig: kind,
    moduleSha256: input.resolution.moduleSha256,
  });
  if (!rendered.ok) return { ...nothing('RenderFailed'), images, error: formatFieldErrors(rendered.errors) };
  const pinned = rendered.value.pinnedImage;
  const object = rendered.value.meshConfig;
  const apply: MeshConfigAction = {
    action: 'apply',
    object,
    ...(input.owned[other] ? { replaces: { kind: other, name: input.owned[other].name } } : {}),
  };

  // 2. Workloads: patched by their own keys; the CR waits for them.
  const wkind = fd.workload.kind;
  const gateKey = input.nodeGate?.key;
  const unpatched = input.workloads.filter(
    (w) =>
      !hasWasmVolumes(w.spec?.template?.metadata?.annotations, { filtersDir: opts.filtersDir }) ||
      (gateKey !== undefined &&
        !gateKeysOf(
          w.spec?.template?.spec?.affinity?.nodeAffinity?.requiredDuringSchedulingIgnoredDuringExecution,
        ).includes(gateKey)),
  );
  const enqueue: QueueKey[] = unpatched.map((w) => workloadKey(wkind, ns, w.metadata.name));
  const matchedNames = input.workloads.map((w) => `${wkind}/${w.metadata.name}`).sort();
  // Workloads this CR selected before (its labels or kind changed) may have to lose the volume.
  for (const previous of cr.status?.matchedWorkloads ?? []) {
    const [wkind, wname] = previous.split('/');
    if (!matchedNames.includes(previous) && wkind && wname && wkind in workloadResources)
      enqueue.push(workloadKey(wkind as keyof typeof workloadResources, ns, wname));
  }

  // 3. Distribution: every ready agent must hold the module before Envoy is told to load it.
  const dist = input.agents;
  const distributed = dist.readyAgents > 0 && dist.missing.length === 0;
  const imageOk: ConditionInput = resolveProblem
    ? {
        type: 'ImageResolved',
        status: 'False',
        reason: 'ResolveFailed',
        message: `re-resolving ${fd.filter.image} failed (${resolveProblem}); using ${digest}`,
      }
    : {
        type: 'ImageResolved',
        status: 'True',
        reason: 'Resolved',
        message: `${fd.filter.image} is ${digest}`,
      };
  const fields: FilterDeploymentStatus = { resolvedImage: pinned, digest, matchedWorkloads: matchedNames };
  if (!distributed) {
    const since = input.waiting?.digest === digest ? input.waiting.since : input.now;
    const waited = input.now - since;
    const timedOut = waited >= opts.distributionTimeoutMs;
    const outcome: FilterOutcome =
      dist.readyAgents === 0 ? 'NoReadyAgents' : timedOut ? 'DistributionTimeout' : 'Distributing';
    const message =
      dist.readyAgents === 0
        ? `no ready meshwasm agent pod in ${opts.namespace} reports modules; is the agent DaemonSet running?`
        : `${dist.missing.length} of ${dist.readyAgents} node(s) do not have ${digest} yet: ${dist.missing.slice(0, 20).join(', ')}${dist.missing.length > 20 ? ', ...' : ''}` +
          (timedOut
            ? ` (waited ${Math.round(waited / 1000)} s; check the agent logs and Events on those nodes)`
            : '');
    const held =
      appliedDigest && appliedDigest !== digest ? `; ${applied!.kind} keeps ${appliedDigest} until then` : '';
    return {
      outcome,
      images,
      enqueue,
      recheckNamespace: false,
      // The module the mesh already loads is on the nodes that had it; other changes may go on.
      meshConfig: appliedDigest === digest ? apply : { action: 'keep' },
      waiting: { digest, since },
      status: {
        fields: { ...fields, missingNodes: dist.missing },
        conditions: [
          imageOk,
          { type: 'ModuleDistributed', status: 'False', reason: outcome, message },
          { type: 'Ready', status: 'False', reason: outcome, message: `${message}${held}` },
        ],
      },
      requeueAfterMs: timedOut
        ? refresh
        : Math.min(refresh ?? Infinity, opts.distributionTimeoutMs - waited + 10),
    };
  }

  // 4. The EnvoyFilter; the previous module is no longer referenced once it names the new one.
  const ready: ConditionInput =
    unpatched.length > 0
      ? {
          type: 'Ready',
          status: 'False',
          reason: 'WorkloadsPending',
          message: `waiting for the module volume${gateKey ? ' and node affinity' : ''} on ${unpatched.map((w) => `${wkind}/${w.metadata.name}`).join(', ')}`,
        }
      : {
          type: 'Ready',
          status: 'True',
          reason: 'Applied',
          message: `${object.kind} ${object.metadata.name} loads ${digest}; ${input.workloads.length} workload(s) matched`,
        };
  return {
    outcome: unpatched.length > 0 ? 'WorkloadsPending' : 'Applied',
    images,
    enqueue,
    recheckNamespace: false,
    meshConfig: apply,
    imagesAfter: new Set([pinned]),
    waiting: 'clear',
    status: {
      fields,
      conditions: [
        imageOk,
        {
          type: 'ModuleDistributed',
          status: 'True',
          reason: 'Distributed',
          message: `all ${dist.readyAgents} ready agent(s) report ${digest}`,
        },
        ready,
      ],
    },
    requeueAfterMs: refresh,
  };
}
