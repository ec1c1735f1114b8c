/**
 * The reconciler: reads the desired state from the informer caches and converges the cluster to it, one
 * key at a time (`fd/<ns>/<name>`, `wl/<Kind>/<ns>/<name>`, `images`). Every step is idempotent, so any
 * key may be retried or re-run at any time, after a crash included.
 *
 * For an ASMFilterDeployment: finalizer, validation, tag -> digest (pull secret from the cluster),
 * contribution to the images ConfigMap (new digest and the one still applied), workload annotations,
 * then the EnvoyFilter, but only once every ready agent reports the module; status and Events last.
 */
import {
  DIGEST_ANNOTATION,
  FINALIZER,
  FILTER_DEPLOYMENT_API_VERSION,
  FILTER_DEPLOYMENT_KIND,
  IMAGES_CONFIGMAP_KEY,
  IMAGES_CONFIGMAP_NAME,
  PULL_SECRET_NAME,
  SOURCE_ANNOTATION,
  envoyFilterName,
  formatFieldErrors,
  hasWasmVolumes,
  imagesConfigMap,
  pinnedReference,
  renderFilterDeployment,
  renderImagesList,
  validateFilterDeployment,
  workloadPatch,
  type ASMFilterDeployment,
  type FilterDeploymentStatus,
  type ValidFilterDeployment,
  type WorkloadKind,
} from '../mesh/index.js';
import {
  apply,
  isAlreadyExists,
  isNotFound,
  Resources,
  type EventRecorder,
  type Informer,
  type KubeClient,
  type KubeObject,
  type ResourceRef,
} from '../kube/index.js';
import { describeError, isMeshwasmError } from '../errors.js';
import type { Logger } from '../log.js';
import { distribution, type AgentPod } from './agents.js';
import type { ControllerMetrics } from './metrics.js';
import { buildConditions, condition, sameStatus, statusPatch, type ConditionInput } from './status.js';

/** Resolves a reference to its manifest digest; `dockerConfigJson` is the pull secret's content, if any. */
export type Resolver = (reference: string, dockerConfigJson: string | undefined) => Promise<string>;

export type FilterDeploymentObject = KubeObject &
  ASMFilterDeployment & { metadata: { name: string; namespace: string } };
export type Workload = KubeObject & {
  spec?: {
    template?: { metadata?: { labels?: Record<string, string>; annotations?: Record<string, string> } };
  };
};

export interface Caches {
  filterDeployments: Informer<FilterDeploymentObject>;
  workloads: Record<WorkloadKind, Informer<Workload>>;
  envoyFilters: Informer<KubeObject>;
  agents: Informer<AgentPod>;
  images: Informer<KubeObject & { data?: Record<string, string> }>;
}

export interface ReconcilerOptions {
  namespace: string; // where the pull secret, the images ConfigMap and the agents live
  tagRefreshMs: number;
  distributionTimeoutMs: number;
  filtersDir?: string;
}

export interface ReconcileResult {
  requeueAfterMs?: number;
}

const workloadResources: Record<WorkloadKind, ResourceRef> = {
  Deployment: Resources.deployments,
  StatefulSet: Resources.statefulSets,
  DaemonSet: Resources.daemonSets,
};

export const fdKey = (ns: string, name: string): string => `fd/${ns}/${name}`;
export const wlKey = (kind: string, ns: string, name: string): string => `wl/${kind}/${ns}/${name}`;
export const IMAGES_KEY = 'images';

function selects(labels: Record<string, string>, w: Workload): boolean {
  const podLabels = w.spec?.template?.metadata?.labels ?? {};
  return Object.entries(labels).every(([k, v]) => podLabels[k] === v);
}

export class Reconciler {
  /** Last resolution per image string (a tag's digest is kept for IfNotPresent, refreshed for Always). */
  private readonly resolved = new Map<string, { digest: string; at: number }>();
  /** Pinned references each CR needs on the nodes right now. */
  private readonly contributions = new Map<string, Set<string>>();
  /** When each CR started waiting for the agents to report its digest. */
  private readonly waitingSince = new Map<string, { digest: string; since: number }>();
  private readonly validations = new Map<string, { id: string; value: ValidFilterDeployment | undefined }>();
  /** CRs present at start-up that have not been reconciled yet: until then the images list is incomplete. */
  readonly initialPending = new Set<string>();

  constructor(
    private readonly client: KubeClient,
    private readonly caches: Caches,
    private readonly resolver: Resolver,
    private readonly events: EventRecorder,
    private readonly metrics: ControllerMetrics,
    private readonly log: Logger,
    private readonly opts: ReconcilerOptions,
    private readonly enqueue: (key: string) => void,
  ) {}

  async reconcile(key: string): Promise<ReconcileResult> {
    if (key === IMAGES_KEY) {
      await this.reconcileImages();
      return {};
    }
    const [kind, ...rest] = key.split('/');
    if (kind === 'fd') return this.reconcileFilter(rest[0]!, rest[1]!);
    if (kind === 'wl') {
      await this.reconcileWorkload(rest[0] as WorkloadKind, rest[1]!, rest[2]!);
      return {};
    }
    return {};
  }

  /** Workloads of `kind` in `ns` whose pod template carries `labels`. */
  private matching(kind: WorkloadKind, ns: string, labels: Record<string, string>): Workload[] {
    return this.caches.workloads[kind].list(ns).filter((w) => selects(labels, w));
  }

  private enqueueNamespaceWorkloads(ns: string): void {
    for (const [kind, inf] of Object.entries(this.caches.workloads))
      for (const w of inf.list(ns)) this.enqueue(wlKey(kind, ns, w.metadata.name));
  }

  private settleInitial(key: string): void {
    if (this.initialPending.delete(key) && this.initialPending.size === 0) this.enqueue(IMAGES_KEY);
  }

  // ---------------------------------------------------------------- ASMFilterDeployment

  async reconcileFilter(ns: string, name: string): Promise<ReconcileResult> {
    const key = `${ns}/${name}`;
    try {
      return await this.reconcileFilterInner(ns, name, key);
    } finally {
      this.settleInitial(key);
    }
  }

  private async reconcileFilterInner(ns: string, name: string, key: string): Promise<ReconcileResult> {
    let cr = this.caches.filterDeployments.get(name, ns);
    if (!cr) {
      // Gone without our finalizer (or after it): make sure nothing of it is left behind.
      this.forget(key);
      this.enqueue(IMAGES_KEY);
      this.enqueueNamespaceWorkloads(ns);
      return {};
    }
    if (cr.metadata.deletionTimestamp) {
      if (cr.metadata.finalizers?.includes(FINALIZER)) await this.finalize(cr, key);
      return {};
    }
    if (!cr.metadata.finalizers?.includes(FINALIZER)) {
      cr = await this.client.patch<FilterDeploymentObject>(Resources.filterDeployments, ns, name, {
        metadata: {
          finalizers: [...(cr.metadata.finalizers ?? []), FINALIZER],
          resourceVersion: cr.metadata.resourceVersion,
        },
      });
    }
    const validated = validateFilterDeployment(cr);
    if (!validated.ok) {
      const message = formatFieldErrors(validated.errors);
      await this.removeEnvoyFilter(ns, name, key);
      this.forget(key);
      this.enqueue(IMAGES_KEY);
      this.enqueueNamespaceWorkloads(ns);
      const c = { status: 'False', reason: 'InvalidSpec', message } as const;
      await this.writeStatus(cr, {}, [
        { type: 'ImageResolved', ...c },
        { type: 'ModuleDistributed', ...c },
        { type: 'Ready', ...c },
      ]);
      return {};
    }
    const fd = validated.value;
    const ef = this.ownedEnvoyFilter(ns, name, key);
    const appliedDigest = ef?.metadata.annotations?.[DIGEST_ANNOTATION];

    // 1. The digest.
    let digest: string | undefined;
    let resolveProblem: string | undefined;
    try {
      ({ digest, problem: resolveProblem } = await this.resolve(fd));
    } catch (err) {
      resolveProblem = describeError(err);
    }
    const needed = new Set<string>();
    if (appliedDigest) needed.add(pinnedReference(fd.filter.reference, appliedDigest));
    if (digest) needed.add(pinnedReference(fd.filter.reference, digest));
    this.setContribution(key, needed);
    const refresh =
      fd.filter.imagePullPolicy === 'Always' && !fd.filter.reference.digest
        ? this.opts.tagRefreshMs
        : undefined;
    if (!digest) {
      const c = {
        status: 'False',
        reason: 'ResolveFailed',
        message: `cannot resolve ${fd.filter.image}: ${resolveProblem}`,
      } as const;
      const keeps = appliedDigest
        ? `; EnvoyFilter ${ef!.metadata.name} keeps the module ${appliedDigest}`
        : '';
      await this.writeStatus(cr, { digest: appliedDigest }, [
        { type: 'ImageResolved', ...c },
        {
          type: 'ModuleDistributed',
          status: 'Unknown',
          reason: 'ResolveFailed',
          message: 'the image has no digest yet',
        },
        { type: 'Ready', status: 'False', reason: 'ResolveFailed', message: `${c.message}${keeps}` },
      ]);
      throw new Error(c.message); // retried with backoff
    }
    const rendered = renderFilterDeployment(cr, digest, { filtersDir: this.opts.filtersDir });
    if (!rendered.ok) throw new Error(formatFieldErrors(rendered.errors));
    const pinned = rendered.value.pinnedImage;

    // 2. Workloads: patched by their own keys; the CR waits for them.
    const matched = this.matching(fd.workload.kind, ns, fd.workload.labels);
    const unpatched = matched.filter(
      (w) => !hasWasmVolumes(w.spec?.template?.metadata?.annotations, { filtersDir: this.opts.filtersDir }),
    );
    for (const w of unpatched) this.enqueue(wlKey(fd.workload.kind, ns, w.metadata.name));
    const matchedNames = matched.map((w) => `${fd.workload.kind}/${w.metadata.name}`).sort();
    // Workloads this CR selected before (its labels or kind changed) may have to lose the volume.
    for (const previous of cr.status?.matchedWorkloads ?? []) {
      const [kind, wname] = previous.split('/');
      if (!matchedNames.includes(previous) && kind && wname && kind in workloadResources)
        this.enqueue(wlKey(kind, ns, wname));
    }

    // 3. Distribution: every ready agent must hold the module before Envoy is told to load it.
    const dist = distribution(this.caches.agents.list(this.opts.namespace), digest);
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
    const status: FilterDeploymentStatus = { resolvedImage: pinned, digest, matchedWorkloads: matchedNames };
    let requeueAfterMs = refresh;
    if (!distributed) {
      const waited = this.waitingSince.get(key);
      const since = waited?.digest === digest ? waited.since : Date.now();
      this.waitingSince.set(key, { digest, since });
      const timedOut = Date.now() - since >= this.opts.distributionTimeoutMs;
      const reason =
        dist.readyAgents === 0 ? 'NoReadyAgents' : timedOut ? 'DistributionTimeout' : 'Distributing';
      const message =
        dist.readyAgents === 0
          ? `no ready meshwasm agent pod in ${this.opts.namespace} reports modules; is the agent DaemonSet running?`
          : `${dist.missing.length} of ${dist.readyAgents} node(s) do not have ${digest} yet: ${dist.missing.slice(0, 20).join(', ')}${dist.missing.length > 20 ? ', ...' : ''}` +
            (timedOut
              ? ` (waited ${Math.round((Date.now() - since) / 1000)} s; check the agent logs and Events on those nodes)`
              : '');
      const held =
        appliedDigest && appliedDigest !== digest ? `; EnvoyFilter keeps ${appliedDigest} until then` : '';
      status.missingNodes = dist.missing;
      // The module already named by the EnvoyFilter is on the nodes that had it; other changes may go on.
      if (appliedDigest === digest) await this.applyEnvoyFilter(cr, rendered.value.envoyFilter, digest);
      await this.writeStatus(cr, status, [
        imageOk,
        { type: 'ModuleDistributed', status: 'False', reason, message },
        { type: 'Ready', status: 'False', reason, message: `${message}${held}` },
      ]);
      if (!timedOut) {
        const remaining = this.opts.distributionTimeoutMs - (Date.now() - since);
        requeueAfterMs = Math.min(requeueAfterMs ?? Infinity, remaining + 10);
      }
      return { requeueAfterMs };
    }
    this.waitingSince.delete(key);

    // 4. The EnvoyFilter.
    await this.applyEnvoyFilter(cr, rendered.value.envoyFilter, digest);
    // The previous module is no longer referenced once the EnvoyFilter names the new one.
    this.setContribution(key, new Set([pinned]));

    const ready: ConditionInput =
      unpatched.length > 0
        ? {
            type: 'Ready',
            status: 'False',
            reason: 'WorkloadsPending',
            message: `waiting for the module volume on ${unpatched.map((w) => `${fd.workload.kind}/${w.metadata.name}`).join(', ')}`,
          }
        : {
            type: 'Ready',
            status: 'True',
            reason: 'Applied',
            message: `EnvoyFilter ${rendered.value.envoyFilter.metadata.name} loads ${digest}; ${matched.length} workload(s) matched`,
          };
    await this.writeStatus(cr, status, [
      imageOk,
      {
        type: 'ModuleDistributed',
        status: 'True',
        reason: 'Distributed',
        message: `all ${dist.readyAgents} ready agent(s) report ${digest}`,
      },
      ready,
    ]);
    return { requeueAfterMs };
  }

  private async applyEnvoyFilter(
    cr: FilterDeploymentObject,
    envoyFilter: { metadata: { name: string } },
    digest: string,
  ): Promise<void> {
    const { action } = await apply(this.client, Resources.envoyFilters, envoyFilter as unknown as KubeObject);
    if (action === 'unchanged') return;
    this.metrics.envoyFiltersApplied.inc({ action });
    await this.event(
      cr,
      'Normal',
      action === 'created' ? 'EnvoyFilterCreated' : 'EnvoyFilterUpdated',
      `EnvoyFilter ${envoyFilter.metadata.name} loads ${digest}`,
    );
  }

  private async resolve(fd: ValidFilterDeployment): Promise<{ digest: string; problem?: string }> {
    if (fd.filter.reference.digest) return { digest: fd.filter.reference.digest };
    const cached = this.resolved.get(fd.filter.image);
    const fresh =
      cached &&
      (fd.filter.imagePullPolicy === 'IfNotPresent' || Date.now() - cached.at < this.opts.tagRefreshMs);
    if (cached && fresh) return { digest: cached.digest };
    try {
      const secret = await this.client.find<KubeObject & { data?: Record<string, string> }>(
        Resources.secrets,
        this.opts.namespace,
        PULL_SECRET_NAME,
      );
      const raw = secret?.data?.['.dockerconfigjson'];
      const digest = await this.resolver(
        fd.filter.image,
        raw === undefined ? undefined : Buffer.from(raw, 'base64').toString('utf8'),
      );
      this.log.debug({ image: fd.filter.image, digest }, 'resolved');
      this.metrics.resolutions.inc({ result: 'ok' });
      if (cached && cached.digest !== digest)
        this.log.info({ image: fd.filter.image, from: cached.digest, to: digest }, 'tag moved');
      this.resolved.set(fd.filter.image, { digest, at: Date.now() });
      return { digest };
    } catch (err) {
      this.metrics.resolutions.inc({ result: 'error' });
      if (cached) return { digest: cached.digest, problem: describeError(err) };
      throw err;
    }
  }

  private ownedEnvoyFilter(ns: string, name: string, key: string): KubeObject | undefined {
    const ef = this.caches.envoyFilters.get(envoyFilterName(name), ns);
    return ef?.metadata.annotations?.[SOURCE_ANNOTATION] === key ? ef : undefined;
  }

  private async removeEnvoyFilter(ns: string, name: string, key: string): Promise<void> {
    const ef = this.ownedEnvoyFilter(ns, name, key);
    if (!ef) return;
    try {
      await this.client.delete(Resources.envoyFilters, ns, ef.metadata.name);
    } catch (err) {
      if (!isNotFound(err)) throw err;
    }
  }

  private setContribution(key: string, refs: Set<string>): void {
    const old = this.contributions.get(key);
    if (old && old.size === refs.size && [...refs].every((r) => old.has(r))) return;
    this.contributions.set(key, refs);
    this.enqueue(IMAGES_KEY);
  }

  private forget(key: string): void {
    this.contributions.delete(key);
    this.waitingSince.delete(key);
  }

  private async finalize(cr: FilterDeploymentObject, key: string): Promise<void> {
    const { namespace: ns, name } = cr.metadata;
    await this.removeEnvoyFilter(ns, name, key);
    this.forget(key);
    this.initialPending.delete(key);
    const kind = cr.spec?.workload?.kind;
    if (kind && workloadResources[kind] && cr.spec.workload.labels) {
      for (const w of this.matching(kind, ns, cr.spec.workload.labels))
        await this.reconcileWorkload(kind, ns, w.metadata.name);
    }
    await this.reconcileImages();
    await this.client.patch(Resources.filterDeployments, ns, name, {
      metadata: {
        finalizers: (cr.metadata.finalizers ?? []).filter((f) => f !== FINALIZER),
        resourceVersion: cr.metadata.resourceVersion,
      },
    });
    this.log.info({ filterDeployment: key }, 'cleaned up');
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
    await this.client.patch(
      Resources.filterDeployments,
      cr.metadata.namespace,
      cr.metadata.name,
      statusPatch(old, next),
      'merge',
      'status',
    );
    const before = condition(old, 'Ready');
    const after = condition(next, 'Ready')!;
    if (before?.reason !== after.reason && after.status !== 'True') {
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
    return this.events.record(
      { ...cr, apiVersion: FILTER_DEPLOYMENT_API_VERSION, kind: FILTER_DEPLOYMENT_KIND },
      type,
      reason,
      message,
    );
  }

  // ---------------------------------------------------------------- workloads

  /** Validation of a CR, cached per uid and resourceVersion (workload checks ask about every CR). */
  validated(cr: FilterDeploymentObject): ValidFilterDeployment | undefined {
    const id = `${cr.metadata.uid}/${cr.metadata.resourceVersion}`;
    const hit = this.validations.get(cr.metadata.uid ?? '');
    if (hit?.id === id) return hit.value;
    const v = validateFilterDeployment(cr);
    const value = v.ok ? v.value : undefined;
    this.validations.set(cr.metadata.uid ?? '', { id, value });
    if (this.validations.size > 100_000) this.validations.delete(this.validations.keys().next().value!);
    return value;
  }

  /** True when the live, valid CR targets this workload. */
  targets(cr: FilterDeploymentObject, kind: string, w: Workload): boolean {
    if (cr.metadata.deletionTimestamp) return false;
    const v = this.validated(cr);
    return v !== undefined && v.workload.kind === kind && selects(v.workload.labels, w);
  }

  /** True when some live, valid CR in the namespace targets this workload. */
  private wanted(kind: WorkloadKind, w: Workload): boolean {
    return this.caches.filterDeployments.list(w.metadata.namespace).some((cr) => this.targets(cr, kind, w));
  }

  async reconcileWorkload(kind: WorkloadKind, ns: string, name: string): Promise<void> {
    const w = this.caches.workloads[kind]?.get(name, ns);
    if (!w) return;
    let patch;
    try {
      patch = workloadPatch(w.spec?.template?.metadata?.annotations, this.wanted(kind, w), {
        filtersDir: this.opts.filtersDir,
      });
    } catch (err) {
      if (!isMeshwasmError(err, 'INVALID_INPUT')) throw err;
      // The user's own annotation is in the way: say so on the workload, do not retry in a loop.
      await this.events.record(
        { ...w, apiVersion: 'apps/v1', kind },
        'Warning',
        'WasmVolumeConflict',
        describeError(err),
      );
      return;
    }
    if (!patch) return;
    await this.client.patch(workloadResources[kind], ns, name, {
      metadata: { resourceVersion: w.metadata.resourceVersion },
      ...patch,
    });
    this.metrics.workloadPatches.inc({ kind });
  }

  // ---------------------------------------------------------------- images ConfigMap

  async reconcileImages(): Promise<void> {
    if (this.initialPending.size > 0) return; // not every CR has spoken yet; an early write could drop modules
    const refs = new Set<string>();
    for (const c of this.contributions.values()) for (const r of c) refs.add(r);
    const text = renderImagesList(refs);
    const cm = this.caches.images.get(IMAGES_CONFIGMAP_NAME, this.opts.namespace);
    if (cm?.data?.[IMAGES_CONFIGMAP_KEY] === text) return;
    if (!cm) {
      try {
        await this.client.create(
          Resources.configMaps,
          imagesConfigMap(refs, this.opts.namespace) as unknown as KubeObject,
        );
        return;
      } catch (err) {
        if (!isAlreadyExists(err)) throw err;
      }
      await apply(this.client, Resources.configMaps, {
        ...(imagesConfigMap(refs, this.opts.namespace) as unknown as KubeObject),
        metadata: { name: IMAGES_CONFIGMAP_NAME, namespace: this.opts.namespace },
      });
      return;
    }
    await this.client.patch(Resources.configMaps, this.opts.namespace, IMAGES_CONFIGMAP_NAME, {
      metadata: { resourceVersion: cm.metadata.resourceVersion },
      data: { [IMAGES_CONFIGMAP_KEY]: text },
    });
  }
}
