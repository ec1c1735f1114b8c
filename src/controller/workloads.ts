/**
 * Workload pod templates: a Deployment, StatefulSet or DaemonSet carries the module volume exactly while
 * some live, valid ASMFilterDeployment in its namespace selects it. The patch is computed by the pure
 * mesh layer (the user's own volumes are kept and restored) and sent over the resourceVersion read.
 */
import {
  nodeGatePatch,
  nodeLabelKey,
  validateFilterDeployment,
  workloadPatch,
  type ValidFilterDeployment,
  type WorkloadKind,
} from '../mesh/index.js';
import type { EventRecorder, KubeClient } from '../kube/index.js';
import { describeError, isMeshwasmError } from '../errors.js';
import type { ControllerMetrics } from './metrics.js';
import {
  selects,
  workloadResources,
  type Caches,
  type FilterDeploymentObject,
  type Workload,
} from './types.js';

export class Workloads {
  private readonly validations = new Map<string, { id: string; value: ValidFilterDeployment | undefined }>();

  constructor(
    private readonly deps: {
      client: KubeClient;
      caches: Caches;
      events: EventRecorder;
      metrics: ControllerMetrics;
    },
    private readonly filtersDir: string | undefined,
    private readonly nodeGate = false,
  ) {}

  /** Validation of a CR, cached per uid and resourceVersion (each workload check asks about every CR). */
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

  /** True when the live, valid CR selects this workload. */
  targets(cr: FilterDeploymentObject, kind: string, w: Workload): boolean {
    if (cr.metadata.deletionTimestamp) return false;
    const v = this.validated(cr);
    return v !== undefined && v.workload.kind === kind && selects(v.workload.labels, w);
  }

  /** Workloads of `kind` in `ns` whose pod template carries `labels`. */
  matching(kind: WorkloadKind, ns: string, labels: Record<string, string>): Workload[] {
    return this.deps.caches.workloads[kind].list(ns).filter((w) => selects(labels, w));
  }

  async reconcile(kind: WorkloadKind, ns: string, name: string): Promise<void> {
    const w = this.deps.caches.workloads[kind]?.get(name, ns);
    if (!w) return;
    const targeting = this.deps.caches.filterDeployments.list(ns).filter((cr) => this.targets(cr, kind, w));
    const wanted = targeting.length > 0;
    // With the node gate, the pod template requires the label of every CR that selects it.
    const gate = this.nodeGate
      ? nodeGatePatch(
          w.spec?.template?.spec?.affinity?.nodeAffinity?.requiredDuringSchedulingIgnoredDuringExecution,
          targeting.map((cr) => nodeLabelKey(cr.metadata.namespace, cr.metadata.name)),
        )
      : undefined;
    let patch;
    try {
      patch = workloadPatch(w.spec?.template?.metadata?.annotations, wanted, { filtersDir: this.filtersDir });
    } catch (err) {
      if (!isMeshwasmError(err, 'INVALID_INPUT')) throw err;
      // The user's own annotation is in the way: say so on the workload, do not retry in a loop.
      await this.deps.events.record(
        { ...w, apiVersion: 'apps/v1', kind },
        'Warning',
        'WasmVolumeConflict',
        describeError(err),
      );
      return;
    }
    if (!patch && !gate) return;
    // One patch, so a workload that gets the volume and the gate rolls out once.
    await this.deps.client.patch(workloadResources[kind], ns, name, {
      metadata: { resourceVersion: w.metadata.resourceVersion },
      spec: { template: { ...patch?.spec.template, ...gate?.spec.template } },
    });
    this.deps.metrics.workloadPatches.inc({ kind });
  }
}
