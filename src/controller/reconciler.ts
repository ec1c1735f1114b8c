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
  SOURCE_ANNOTATION,
  envoyFilterName,
  formatFieldErrors,
  hasWasmVolumes,
  pinnedReference,
  renderFilterDeployment,
  validateFilterDeployment,
  type FilterDeploymentStatus,
  type WorkloadKind,
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
import { distribution } from './agents.js';
import { ImagesList } from './images.js';
import type { ControllerMetrics } from './metrics.js';
import { buildConditions, condition, sameStatus, statusPatch, type ConditionInput } from './status.js';
import { TagResolver } from './tags.js';
import {
  IMAGES_KEY,
  wlKey,
  workloadResources,
  type Caches,
  type FilterDeploymentObject,
  type Resolver,
} from './types.js';
import { Workloads } from './workloads.js';

export {
  fdKey,
  IMAGES_KEY,
  wlKey,
  type Caches,
  type FilterDeploymentObject,
  type Resolver,
  type Workload,
} from './types.js';

export interface ReconcilerOptions {
  namespace: string; // where the pull secret, the images ConfigMap and the agents live
  tagRefreshMs: number;
  distributionTimeoutMs: number;
  filtersDir?: string;
}

export interface ReconcileResult {
  requeueAfterMs?: number;
}

export class Reconciler {
  /** When each CR started waiting for the agents to report its digest. */
  private readonly waitingSince = new Map<string, { digest: string; since: number }>();
  private readonly tags: TagResolver;
  readonly images: ImagesList;
  readonly workloads: Workloads;

  constructor(
    private readonly client: KubeClient,
    private readonly caches: Caches,
    resolver: Resolver,
    private readonly events: EventRecorder,
    private readonly metrics: ControllerMetrics,
    private readonly log: Logger,
    private readonly opts: ReconcilerOptions,
    private readonly enqueue: (key: string) => void,
  ) {
    this.tags = new TagResolver(client, resolver, metrics, log, opts.namespace, opts.tagRefreshMs);
    this.images = new ImagesList(client, caches, opts.namespace, enqueue);
    this.workloads = new Workloads(client, caches, events, metrics, opts.filtersDir);
  }

  async reconcile(key: string): Promise<ReconcileResult> {
    if (key === IMAGES_KEY) {
      await this.images.reconcile();
      return {};
    }
    const [kind, ...rest] = key.split('/');
    if (kind === 'fd') return this.reconcileFilter(rest[0]!, rest[1]!);
    if (kind === 'wl') {
      await this.workloads.reconcile(rest[0] as WorkloadKind, rest[1]!, rest[2]!);
      return {};
    }
    return {};
  }

  private enqueueNamespaceWorkloads(ns: string): void {
    for (const [kind, inf] of Object.entries(this.caches.workloads))
      for (const w of inf.list(ns)) this.enqueue(wlKey(kind, ns, w.metadata.name));
  }

  // ---------------------------------------------------------------- ASMFilterDeployment

  async reconcileFilter(ns: string, name: string): Promise<ReconcileResult> {
    const key = `${ns}/${name}`;
    try {
      return await this.reconcileFilterInner(ns, name, key);
    } finally {
      this.images.settle(key);
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
      ({ digest, problem: resolveProblem } = await this.tags.resolve(fd));
    } catch (err) {
      resolveProblem = describeError(err);
    }
    const needed = new Set<string>();
    if (appliedDigest) needed.add(pinnedReference(fd.filter.reference, appliedDigest));
    if (digest) needed.add(pinnedReference(fd.filter.reference, digest));
    this.images.set(key, needed);
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
    const matched = this.workloads.matching(fd.workload.kind, ns, fd.workload.labels);
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
    this.images.set(key, new Set([pinned]));

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

  private forget(key: string): void {
    this.images.forget(key);
    this.waitingSince.delete(key);
  }

  private async finalize(cr: FilterDeploymentObject, key: string): Promise<void> {
    const { namespace: ns, name } = cr.metadata;
    await this.removeEnvoyFilter(ns, name, key);
    this.forget(key);
    this.images.initialPending.delete(key);
    const kind = cr.spec?.workload?.kind;
    if (kind && workloadResources[kind] && cr.spec.workload.labels) {
      for (const w of this.workloads.matching(kind, ns, cr.spec.workload.labels))
        await this.workloads.reconcile(kind, ns, w.metadata.name);
    }
    await this.images.reconcile();
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
    if (next.digest && next.digest !== old?.digest && next.resolvedImage) {
      const how = old?.digest ? `moved from ${old.digest} to` : 'resolved to';
      await this.event(cr, 'Normal', 'ImageResolved', `${cr.spec.filter.image} ${how} ${next.resolvedImage}`);
    }
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
}
