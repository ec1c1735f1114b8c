/**
 * The reconciler: one key at a time (a CR, a workload, the images ConfigMap), it reads the desired state
 * from the informer caches, asks the pure `decideFilter` what to do, and writes that. Every step is
 * idempotent, so any key may be retried or re-run at any time, after a crash included.
 *
 * For an ASMFilterDeployment: finalizer, validation, tag -> digest (pull secret from the cluster),
 * contribution to the images ConfigMap (new digest and the one still applied), workload annotations,
 * then the EnvoyFilter (or WasmPlugin), but only once every ready agent reports the module; status and
 * Events last.
 */
import {
  DIGEST_ANNOTATION,
  FINALIZER,
  FILTER_DEPLOYMENT_API_VERSION,
  FILTER_DEPLOYMENT_KIND,
  MESH_CONFIG_KINDS,
  NODE_LABEL_VALUE,
  SOURCE_ANNOTATION,
  nodeLabelKey,
  envoyFilterName,
  validateFilterDeployment,
  wasmPluginName,
  type FilterDeploymentStatus,
  type MeshConfigKind,
} from '../mesh/index.js';
import {
  apply,
  isNotFound,
  Resources,
  type EventRecorder,
  type KubeClient,
  type KubeObject,
} from '../kube/index.js';
import { describeError } from '../errors.js';
import type { Logger } from '../log.js';
import { distribution, reportedDigests } from './agents.js';
import {
  decideFilter,
  type FilterDecision,
  type FilterInput,
  type NodeGateInput,
  type WaitingState,
} from './decide.js';
import { ImagesList } from './images.js';
import { crId, workloadKey, type QueueKey } from './keys.js';
import type { ControllerMetrics } from './metrics.js';
import { buildConditions, condition, sameStatus, statusPatch, type ConditionInput } from './status.js';
import { SignatureChecker } from './signatures.js';
import { TagResolver } from './tags.js';
import {
  meshConfigResources,
  workloadResources,
  type Caches,
  type FilterDeploymentObject,
  type ModuleResolver,
  type Resolver,
  type SignatureVerifier,
} from './types.js';
import { Workloads } from './workloads.js';

export interface ReconcilerOptions {
  namespace: string; // where the pull secret, the images ConfigMap and the agents live
  tagRefreshMs: number;
  distributionTimeoutMs: number;
  filtersDir?: string;
  /** what a CR without spec.meshConfig gets */
  meshConfig: MeshConfigKind;
  /** label nodes that hold a CR's module and require the label on its workloads (see mesh/node-gate.ts) */
  nodeGate?: boolean;
}

/** What the reconciler works with. */
export interface ReconcilerDeps {
  client: KubeClient;
  caches: Caches;
  resolver: Resolver;
  moduleResolver: ModuleResolver;
  /** with a verification policy: checks each resolved digest before it is distributed or rendered */
  verifier?: SignatureVerifier;
  events: EventRecorder;
  metrics: ControllerMetrics;
  log: Logger;
  enqueue: (key: QueueKey) => void;
  /** the clock (ms since the epoch) */
  now?: () => number;
}

export interface ReconcileResult {
  requeueAfterMs?: number;
}

export class Reconciler {
  /** When each CR started waiting for the agents to report its digest. */
  private readonly waitingSince = new Map<string, WaitingState>();
  private readonly tags: TagResolver;
  private readonly signatures: SignatureChecker | undefined;
  private readonly now: () => number;
  readonly images: ImagesList;
  readonly workloads: Workloads;

  constructor(
    private readonly deps: ReconcilerDeps,
    private readonly opts: ReconcilerOptions,
  ) {
    this.now = deps.now ?? Date.now;
    this.tags = new TagResolver(deps, { namespace: opts.namespace, refreshMs: opts.tagRefreshMs });
    this.signatures =
      deps.verifier &&
      new SignatureChecker({ ...deps, verifier: deps.verifier }, { namespace: opts.namespace });
    this.images = new ImagesList(deps, opts.namespace);
    this.workloads = new Workloads(deps, opts.filtersDir, opts.nodeGate === true);
  }

  async reconcile(key: QueueKey): Promise<ReconcileResult> {
    switch (key.kind) {
      case 'images':
        await this.images.reconcile();
        return {};
      case 'workload':
        await this.workloads.reconcile(key.workloadKind, key.namespace, key.name);
        return {};
      case 'filter': {
        const id = crId(key.namespace, key.name);
        try {
          return await this.reconcileFilter(key.namespace, key.name, id);
        } finally {
          this.images.settle(id);
        }
      }
    }
  }

  // ---------------------------------------------------------------- ASMFilterDeployment

  private async reconcileFilter(ns: string, name: string, id: string): Promise<ReconcileResult> {
    let cr = this.deps.caches.filterDeployments.get(name, ns);
    if (cr?.metadata.deletionTimestamp) {
      if (cr.metadata.finalizers?.includes(FINALIZER)) await this.finalize(cr, id);
      return {};
    }
    if (cr && !cr.metadata.finalizers?.includes(FINALIZER)) {
      cr = await this.deps.client.patch<FilterDeploymentObject>(Resources.filterDeployments, ns, name, {
        metadata: {
          finalizers: [...(cr.metadata.finalizers ?? []), FINALIZER],
          resourceVersion: cr.metadata.resourceVersion,
        },
      });
    }
    const decision = decideFilter(await this.read(ns, name, id, cr));
    return this.write(ns, name, id, cr, decision);
  }

  /** Everything the decision needs, from the caches and (for a tag) the registry. */
  private async read(
    ns: string,
    name: string,
    id: string,
    cr: FilterDeploymentObject | undefined,
  ): Promise<FilterInput> {
    const validation = cr
      ? validateFilterDeployment(cr, { defaultMeshConfig: this.opts.meshConfig })
      : undefined;
    const owned: FilterInput['owned'] = {};
    for (const kind of MESH_CONFIG_KINDS) {
      const obj = this.ownedMeshConfig(kind, ns, name, id);
      if (obj)
        owned[kind] = { name: obj.metadata.name, digest: obj.metadata.annotations?.[DIGEST_ANNOTATION] };
    }
    const input: FilterInput = {
      now: this.now(),
      cr,
      validation,
      resolution: {},
      owned,
      served: { EnvoyFilter: true, WasmPlugin: this.deps.caches.wasmPlugins.hasSynced() },
      workloads: [],
      agents: { readyAgents: 0, missing: [] },
      waiting: this.waitingSince.get(id),
      options: this.opts,
    };
    if (this.opts.nodeGate && this.deps.caches.nodes) input.nodeGate = this.nodeGateInput(ns, name);
    if (!validation?.ok) return input;
    const fd = validation.value;
    try {
      input.resolution = await this.tags.resolve(fd);
    } catch (err) {
      input.resolution = { problem: describeError(err) };
    }
    const digest = input.resolution.digest;
    // The signature first: a digest the policy refuses is not read any further (nor its module).
    if (this.signatures && digest) input.signature = await this.signatures.check(fd, digest);
    const accepted = input.signature === undefined || 'signer' in input.signature;
    if (digest && accepted && fd.meshConfig === 'WasmPlugin' && input.served.WasmPlugin) {
      try {
        input.resolution.moduleSha256 = await this.tags.moduleDigest(
          fd,
          fd.filter.reference.digest ?? digest,
        );
      } catch (err) {
        input.resolution.moduleProblem = describeError(err);
      }
    }
    input.workloads = this.workloads.matching(fd.workload.kind, ns, fd.workload.labels);
    if (digest) input.agents = distribution(this.deps.caches.agents.list(this.opts.namespace), digest);
    return input;
  }

  private nodeGateInput(ns: string, name: string): NodeGateInput {
    const key = nodeLabelKey(ns, name);
    const nodes = this.deps.caches.nodes!.list();
    const reports = this.deps.caches.agents
      .list(this.opts.namespace)
      .filter((p) => p.spec?.nodeName && !p.metadata.deletionTimestamp)
      .map((p) => ({ node: p.spec!.nodeName!, digests: [...reportedDigests(p)] }));
    return {
      key,
      nodes: nodes.map((n) => n.metadata.name),
      labelled: nodes.filter((n) => n.metadata.labels?.[key] !== undefined).map((n) => n.metadata.name),
      reports,
    };
  }

  /** Sets or removes one CR's label on nodes (a node deleted meanwhile is not an error). */
  private async labelNodes(key: string, nodes: string[], value: string | null): Promise<void> {
    for (const node of nodes) {
      try {
        await this.deps.client.patch(Resources.nodes, undefined, node, {
          metadata: { labels: { [key]: value } },
        });
      } catch (err) {
        if (!isNotFound(err)) throw err;
      }
    }
  }

  /** Executes a decision, in the order it prescribes. */
  private async write(
    ns: string,
    name: string,
    id: string,
    cr: FilterDeploymentObject | undefined,
    d: FilterDecision,
  ): Promise<ReconcileResult> {
    if (d.images) this.images.set(id, d.images);
    for (const key of d.enqueue) this.deps.enqueue(key);
    if (d.nodeLabels) {
      await this.labelNodes(d.nodeLabels.key, d.nodeLabels.remove, null);
      await this.labelNodes(d.nodeLabels.key, d.nodeLabels.add, NODE_LABEL_VALUE);
    }
    if (d.meshConfig.action === 'apply' && cr) {
      await this.applyMeshConfig(cr, d.meshConfig.object);
      if (d.meshConfig.replaces) await this.removeMeshConfig(d.meshConfig.replaces.kind, ns, name, id);
    }
    if (d.meshConfig.action === 'remove')
      for (const kind of MESH_CONFIG_KINDS) await this.removeMeshConfig(kind, ns, name, id);
    if (d.imagesAfter === 'forget') this.images.forget(id);
    else if (d.imagesAfter) this.images.set(id, d.imagesAfter);
    if (d.waiting === 'clear') this.waitingSince.delete(id);
    else if (d.waiting !== 'keep') this.waitingSince.set(id, d.waiting);
    if (d.recheckNamespace) this.enqueueNamespaceWorkloads(ns);
    if (d.status && cr) await this.writeStatus(cr, d.status.fields, d.status.conditions);
    if (d.error !== undefined) throw new Error(d.error); // retried with backoff
    return { requeueAfterMs: d.requeueAfterMs };
  }

  private enqueueNamespaceWorkloads(ns: string): void {
    for (const [kind, inf] of Object.entries(this.deps.caches.workloads))
      for (const w of inf.list(ns))
        this.deps.enqueue(workloadKey(kind as keyof typeof workloadResources, ns, w.metadata.name));
  }

  private async applyMeshConfig(
    cr: FilterDeploymentObject,
    object: { kind: MeshConfigKind; metadata: { name: string; annotations?: Record<string, string> } },
  ): Promise<void> {
    const { action } = await apply(
      this.deps.client,
      meshConfigResources[object.kind],
      object as unknown as KubeObject,
    );
    if (action === 'unchanged') return;
    const counter =
      object.kind === 'WasmPlugin'
        ? this.deps.metrics.wasmPluginsApplied
        : this.deps.metrics.envoyFiltersApplied;
    counter.inc({ action });
    await this.event(
      cr,
      'Normal',
      `${object.kind}${action === 'created' ? 'Created' : 'Updated'}`,
      `${object.kind} ${object.metadata.name} loads ${object.metadata.annotations?.[DIGEST_ANNOTATION]}`,
    );
  }

  /** The EnvoyFilter or WasmPlugin of this CR, if the cache holds one its source annotation ties to it. */
  private ownedMeshConfig(
    kind: MeshConfigKind,
    ns: string,
    name: string,
    id: string,
  ): KubeObject | undefined {
    const obj =
      kind === 'WasmPlugin'
        ? this.deps.caches.wasmPlugins.get(wasmPluginName(name), ns)
        : this.deps.caches.envoyFilters.get(envoyFilterName(name), ns);
    return obj?.metadata.annotations?.[SOURCE_ANNOTATION] === id ? obj : undefined;
  }

  private async removeMeshConfig(kind: MeshConfigKind, ns: string, name: string, id: string): Promise<void> {
    const obj = this.ownedMeshConfig(kind, ns, name, id);
    if (!obj) return;
    try {
      await this.deps.client.delete(meshConfigResources[kind], ns, obj.metadata.name);
    } catch (err) {
      if (!isNotFound(err)) throw err;
    }
  }

  private async finalize(cr: FilterDeploymentObject, id: string): Promise<void> {
    const { namespace: ns, name } = cr.metadata;
    for (const kind of MESH_CONFIG_KINDS) await this.removeMeshConfig(kind, ns, name, id);
    this.images.forget(id);
    this.waitingSince.delete(id);
    this.images.initialPending.delete(id);
    if (this.opts.nodeGate && this.deps.caches.nodes) {
      const gate = this.nodeGateInput(ns, name);
      await this.labelNodes(gate.key, gate.labelled, null);
    }
    const kind = cr.spec?.workload?.kind;
    if (kind && workloadResources[kind] && cr.spec.workload.labels) {
      for (const w of this.workloads.matching(kind, ns, cr.spec.workload.labels))
        await this.workloads.reconcile(kind, ns, w.metadata.name);
    }
    await this.images.reconcile();
    await this.deps.client.patch(Resources.filterDeployments, ns, name, {
      metadata: {
        finalizers: (cr.metadata.finalizers ?? []).filter((f) => f !== FINALIZER),
        resourceVersion: cr.metadata.resourceVersion,
      },
    });
    this.deps.log.info({ filterDeployment: id }, 'cleaned up');
  }

  private async writeStatus(
    cr: FilterDeploymentObject,
    fields: FilterDeploymentStatus,
    conditions: ConditionInput[],
  ): Promise<void> {
    const old = cr.status;
    const next: FilterDeploymentStatus = {
      observedGeneration: cr.metadata.generation,
      ...Object.fromEntries(Object.entries(fields).filter(([, v]) => v !== undefined)),
      conditions: buildConditions(old?.conditions, conditions, cr.metadata.generation),
    };
    if (sameStatus(old, next)) return;
    await this.deps.client.patch(
      Resources.filterDeployments,
      cr.metadata.namespace,
      cr.metadata.name,
      statusPatch(old, next),
      'merge',
      'status',
    );
    if (next.digest && next.digest !== old?.digest && next.resolvedImage) {
      const how = old?.digest ? `moved from ${old.digest} to` : 'resolved to';
      await this.event(cr, 'Normal', 'ImageResolved', `${cr.spec.filter.image} ${how} ${next.resolvedImage}`);
    }
    // A signature outcome is an Event of its own each time it is about another digest (an audit trail
    // of what was refused and what was let through); its Ready transition then needs none.
    const sigBefore = condition(old, 'SignatureVerified');
    const sigAfter = condition(next, 'SignatureVerified');
    if (sigAfter && (sigBefore?.status !== sigAfter.status || sigBefore.message !== sigAfter.message)) {
      const refused = sigAfter.status === 'False';
      await this.event(
        cr,
        refused ? 'Warning' : 'Normal',
        refused ? 'SignatureVerificationFailed' : 'SignatureVerified',
        sigAfter.message,
      );
    }
    const before = condition(old, 'Ready');
    const after = condition(next, 'Ready')!;
    if (before?.reason !== after.reason && after.status !== 'True' && after.reason !== 'SignatureRejected') {
      await this.event(
        cr,
        after.reason === 'Distributing' ? 'Normal' : 'Warning',
        after.reason,
        after.message,
      );
    }
  }

  private event(
    cr: FilterDeploymentObject,
    type: 'Normal' | 'Warning',
    reason: string,
    message: string,
  ): Promise<void> {
    return this.deps.events.record(
      { ...cr, apiVersion: FILTER_DEPLOYMENT_API_VERSION, kind: FILTER_DEPLOYMENT_KIND },
      type,
      reason,
      message,
    );
  }
}
