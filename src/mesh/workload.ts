/**
 * The workload patch (pure): Istio's injector reads `sidecar.istio.io/userVolume` and
 * `sidecar.istio.io/userVolumeMount` (JSON arrays) from the pod template and mounts those volumes into
 * istio-proxy. meshwasm adds its hostPath volume to whatever the user already declared there, records
 * which annotations it added to, and on removal takes out only its own entries, so the user's survive.
 */
import { MeshwasmError } from '../errors.js';
import { DEFAULT_FILTERS_DIR } from './types.js';

export const USER_VOLUME_ANNOTATION = 'sidecar.istio.io/userVolume';
export const USER_VOLUME_MOUNT_ANNOTATION = 'sidecar.istio.io/userVolumeMount';
/** Which of the two annotations meshwasm added its entry to (comma-separated), so removal is exact. */
export const INJECTED_ANNOTATION = 'wasm.meshwasm.io/injected-volumes';
export const WASM_VOLUME_NAME = 'wasmfilters-dir';

export type Annotations = Readonly<Record<string, string>>;

export interface WorkloadPatchOptions {
  filtersDir?: string;
}

/** A JSON merge patch for a Deployment, StatefulSet or DaemonSet (null deletes an annotation). */
export interface WorkloadMergePatch {
  spec: { template: { metadata: { annotations: Record<string, string | null> } } };
}

/** The seed's volume: `{"name":"wasmfilters-dir","hostPath":{"path":"/var/local/lib/wasm-filters"}}`. */
export function wasmVolume(filtersDir: string = DEFAULT_FILTERS_DIR): Record<string, unknown> {
  return { name: WASM_VOLUME_NAME, hostPath: { path: filtersDir } };
}

/** The seed's mount: `{"mountPath":"/var/local/lib/wasm-filters","name":"wasmfilters-dir"}`. */
export function wasmVolumeMount(filtersDir: string = DEFAULT_FILTERS_DIR): Record<string, unknown> {
  return { mountPath: filtersDir, name: WASM_VOLUME_NAME };
}

function parseEntries(annotations: Annotations, key: string): Record<string, unknown>[] {
  const raw = annotations[key];
  if (raw === undefined || raw.trim() === '') return [];
  let parsed: unknown;
  try {
    parsed = JSON.parse(raw);
  } catch (err) {
    throw new MeshwasmError(
      'INVALID_INPUT',
      `pod template annotation ${key} is not valid JSON (${err instanceof Error ? err.message : String(err)})`,
      { hint: `make ${key} a JSON array of objects, as Istio expects; meshwasm merges its entry into it` },
    );
  }
  if (
    !Array.isArray(parsed) ||
    !parsed.every((e) => typeof e === 'object' && e !== null && !Array.isArray(e))
  ) {
    throw new MeshwasmError(
      'INVALID_INPUT',
      `pod template annotation ${key} is not a JSON array of objects`,
      {
        hint: `make ${key} a JSON array of objects, as Istio expects; meshwasm merges its entry into it`,
      },
    );
  }
  return parsed as Record<string, unknown>[];
}

/** Key-order-independent equality of two JSON values. */
function sameJson(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null) return false;
  if (Array.isArray(a) !== Array.isArray(b)) return false;
  const ka = Object.keys(a);
  const kb = Object.keys(b);
  if (ka.length !== kb.length) return false;
  return ka.every((k) => sameJson((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k]));
}

function injectedSet(annotations: Annotations): Set<string> {
  const raw = annotations[INJECTED_ANNOTATION];
  return new Set(
    raw
      ? raw.split(',').filter((k) => k === USER_VOLUME_ANNOTATION || k === USER_VOLUME_MOUNT_ANNOTATION)
      : [],
  );
}

/**
 * The annotations with meshwasm's volume and mount merged in. Entries the user already has are kept as
 * they are; an identical user entry is left alone (and so is never removed later); a different user entry
 * named `wasmfilters-dir` is a conflict and throws INVALID_INPUT naming the annotation.
 */
export function addWasmVolumes(
  annotations: Annotations | undefined,
  options: WorkloadPatchOptions = {},
): Record<string, string> {
  const result: Record<string, string> = { ...(annotations ?? {}) };
  const injected = injectedSet(result);
  const wanted: Array<[string, Record<string, unknown>]> = [
    [USER_VOLUME_ANNOTATION, wasmVolume(options.filtersDir)],
    [USER_VOLUME_MOUNT_ANNOTATION, wasmVolumeMount(options.filtersDir)],
  ];
  for (const [key, entry] of wanted) {
    const entries = parseEntries(result, key);
    const index = entries.findIndex((e) => e.name === WASM_VOLUME_NAME);
    if (index < 0) {
      entries.push(entry);
      injected.add(key);
    } else if (injected.has(key)) {
      if (sameJson(entries[index], entry)) continue;
      entries[index] = entry; // ours, from an earlier directory setting: bring it up to date
    } else if (sameJson(entries[index], entry)) {
      continue; // the user declared exactly this already; it stays theirs
    } else {
      throw new MeshwasmError(
        'INVALID_INPUT',
        `pod template annotation ${key} already has an entry named "${WASM_VOLUME_NAME}" that differs from meshwasm's (${JSON.stringify(entries[index])})`,
        { hint: `rename or remove that entry; meshwasm needs ${JSON.stringify(entry)}` },
      );
    }
    result[key] = JSON.stringify(entries);
  }
  if (injected.size > 0) result[INJECTED_ANNOTATION] = [...injected].sort().join(',');
  return result;
}

/** The annotations with meshwasm's own entries taken out again; the user's entries are restored as they were. */
export function removeWasmVolumes(annotations: Annotations | undefined): Record<string, string> {
  const result: Record<string, string> = { ...(annotations ?? {}) };
  for (const key of injectedSet(result)) {
    const entries = parseEntries(result, key).filter((e) => e.name !== WASM_VOLUME_NAME);
    if (entries.length === 0) delete result[key];
    else result[key] = JSON.stringify(entries);
  }
  delete result[INJECTED_ANNOTATION];
  return result;
}

/** True when the pod template mounts the module directory into the sidecar (by meshwasm or the user). */
export function hasWasmVolumes(
  annotations: Annotations | undefined,
  options: WorkloadPatchOptions = {},
): boolean {
  const a = annotations ?? {};
  try {
    const vol = parseEntries(a, USER_VOLUME_ANNOTATION).find((e) => e.name === WASM_VOLUME_NAME);
    const mount = parseEntries(a, USER_VOLUME_MOUNT_ANNOTATION).find((e) => e.name === WASM_VOLUME_NAME);
    return (
      sameJson(vol, wasmVolume(options.filtersDir)) && sameJson(mount, wasmVolumeMount(options.filtersDir))
    );
  } catch {
    return false;
  }
}

/** The JSON merge patch turning `before` into `after` (only changed keys; null deletes). */
export function annotationsMergePatch(
  before: Annotations | undefined,
  after: Annotations,
): Record<string, string | null> {
  const patch: Record<string, string | null> = {};
  const b = before ?? {};
  for (const [k, v] of Object.entries(after)) if (b[k] !== v) patch[k] = v;
  for (const k of Object.keys(b)) if (!(k in after)) patch[k] = null;
  return patch;
}

/**
 * The merge patch a workload needs so that its pod template has meshwasm's volumes (`wanted` true) or
 * not (`wanted` false), or undefined when it is already right: the controller sends nothing then, which
 * keeps reconciles idempotent and avoids needless rollouts.
 */
export function workloadPatch(
  templateAnnotations: Annotations | undefined,
  wanted: boolean,
  options: WorkloadPatchOptions = {},
): WorkloadMergePatch | undefined {
  const after = wanted
    ? addWasmVolumes(templateAnnotations, options)
    : removeWasmVolumes(templateAnnotations);
  const annotations = annotationsMergePatch(templateAnnotations, after);
  if (Object.keys(annotations).length === 0) return undefined;
  return { spec: { template: { metadata: { annotations } } } };
}

/**
 * True when every selector label is on the pod template (what Istio's workloadSelector does). An empty
 * selector matches nothing here: validation never lets one through, and matching all would be a surprise.
 */
export function labelsMatch(
  selector: Readonly<Record<string, string>>,
  labels: Readonly<Record<string, string>> | undefined,
): boolean {
  const entries = Object.entries(selector);
  if (entries.length === 0 || labels === undefined) return false;
  return entries.every(([k, v]) => labels[k] === v);
}
