/**
 * One call from an ASMFilterDeployment object to everything it produces (pure): validation, the
 * EnvoyFilter or WasmPlugin, the workload patch and the pinned reference for the images ConfigMap. The CLI's `render`,
 * the controller and the render benchmark all go through here.
 */
import { renderEnvoyFilter, type EnvoyFilter, type RenderOptions } from './envoyfilter.js';
import { nodeGatePatch, nodeLabelKey } from './node-gate.js';
import { pinnedReference } from './reference.js';
import { validateFilterDeployment, type FieldError, type ValidateOptions } from './validate.js';
import { renderWasmPlugin, type WasmPlugin, type WasmPluginRenderOptions } from './wasmplugin.js';
import { workloadPatch, type WorkloadMergePatch } from './workload.js';
import type { ValidFilterDeployment, WorkloadKind } from './types.js';

export interface RenderedFilterDeployment {
  filterDeployment: ValidFilterDeployment;
  /** what the mesh loads: the EnvoyFilter or the WasmPlugin, as `filterDeployment.meshConfig` says */
  meshConfig: EnvoyFilter | WasmPlugin;
  /** the same object by its kind */
  envoyFilter?: EnvoyFilter;
  wasmPlugin?: WasmPlugin;
  /** `registry/repository@sha256:...`, the line this CR contributes to the images ConfigMap. */
  pinnedImage: string;
  /** What every matching workload's pod template gets, and how to select those workloads. */
  workload: {
    kind: WorkloadKind;
    namespace: string;
    matchLabels: Record<string, string>;
    /**
     * The merge patch for a workload whose pod template has no annotations (and, with the node gate,
     * no required node affinity) yet.
     */
    patch: RenderedWorkloadPatch;
    /** with the node gate: the node label the controller sets where the module is, and requires */
    nodeLabel?: string;
  };
}

export interface RenderedWorkloadPatch {
  spec: {
    template: WorkloadMergePatch['spec']['template'] & {
      spec?: { affinity: { nodeAffinity: Record<string, unknown> } };
    };
  };
}

export interface RenderFilterOptions
  extends RenderOptions, ValidateOptions, Pick<WasmPluginRenderOptions, 'moduleSha256'> {
  /** include the node gate's required node affinity, as the controller applies it by default */
  nodeGate?: boolean;
}

export type RenderResult =
  { ok: true; value: RenderedFilterDeployment } | { ok: false; errors: FieldError[] };

/**
 * Validates `input` and renders it against the manifest digest the image resolved to. Invalid input comes
 * back as field errors (never a throw), so a batch of CRs is never stopped by one bad one.
 */
export function renderFilterDeployment(
  input: unknown,
  digest: string,
  options: RenderFilterOptions = {},
): RenderResult {
  const validated = validateFilterDeployment(input, options);
  if (!validated.ok) return validated;
  const fd = validated.value;
  // A digest in the image itself wins over the one given: the user pinned it.
  const effective = fd.filter.reference.digest ?? digest;
  try {
    const meshConfig =
      fd.meshConfig === 'WasmPlugin'
        ? renderWasmPlugin(fd, effective, options)
        : renderEnvoyFilter(fd, effective, options);
    // From no annotations to ours is always a change, so the patch is never undefined here.
    const annotations = workloadPatch(undefined, true, options) as WorkloadMergePatch;
    const nodeLabel = options.nodeGate ? nodeLabelKey(fd.namespace, fd.name) : undefined;
    const gate = nodeLabel ? nodeGatePatch(undefined, [nodeLabel]) : undefined;
    const patch: RenderedWorkloadPatch = gate
      ? { spec: { template: { ...annotations.spec.template, spec: gate.spec.template.spec } } }
      : annotations;
    return {
      ok: true,
      value: {
        filterDeployment: fd,
        meshConfig,
        ...(meshConfig.kind === 'WasmPlugin' ? { wasmPlugin: meshConfig } : { envoyFilter: meshConfig }),
        pinnedImage: pinnedReference(fd.filter.reference, effective),
        workload: {
          kind: fd.workload.kind,
          namespace: fd.namespace,
          matchLabels: { ...fd.workload.labels },
          patch,
          ...(nodeLabel ? { nodeLabel } : {}),
        },
      },
    };
  } catch (err) {
    return {
      ok: false,
      errors: [{ field: 'digest', message: err instanceof Error ? err.message : String(err) }],
    };
  }
}
