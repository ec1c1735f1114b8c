/**
 * Istio's WasmPlugin (`extensions.istio.io/v1alpha1`) as a type: every field Istio documents, and the
 * enumerations. A leaf, shared by the renderer (wasmplugin.ts) and by `meshwasm run -f`, which reads
 * users' WasmPlugin YAML (sidecar/mesh-config.ts), so a field means one thing in both.
 */
import type { ObjectMeta } from './types.js';

export const WASM_PLUGIN_API_VERSION = 'extensions.istio.io/v1alpha1';
export const WASM_PLUGIN_KIND = 'WasmPlugin';

export const WASM_PLUGIN_PHASES = ['UNSPECIFIED_PHASE', 'AUTHN', 'AUTHZ', 'STATS'] as const;
export type WasmPluginPhase = (typeof WASM_PLUGIN_PHASES)[number];
export const FAIL_STRATEGIES = ['FAIL_CLOSE', 'FAIL_OPEN', 'FAIL_RELOAD'] as const;
export type FailStrategy = (typeof FAIL_STRATEGIES)[number];
export const WORKLOAD_MODES = ['UNDEFINED', 'CLIENT', 'SERVER', 'CLIENT_AND_SERVER'] as const;
export type WorkloadMode = (typeof WORKLOAD_MODES)[number];
export const WASM_PLUGIN_PULL_POLICIES = ['UNSPECIFIED_POLICY', 'IfNotPresent', 'Always'] as const;
export type WasmPluginPullPolicy = (typeof WASM_PLUGIN_PULL_POLICIES)[number];
export const WASM_PLUGIN_TYPES = ['UNSPECIFIED_PLUGIN_TYPE', 'HTTP', 'NETWORK'] as const;
export type WasmPluginType = (typeof WASM_PLUGIN_TYPES)[number];

export interface WasmPluginTrafficSelector {
  mode?: WorkloadMode;
  ports?: { number: number }[];
}

export interface WasmPluginEnvVar {
  name: string;
  valueFrom?: 'INLINE' | 'HOST';
  value?: string;
}

export interface WasmPluginSpec {
  selector?: { matchLabels?: Record<string, string> };
  /** `file://`, `oci://`, `http(s)://`, or a plain reference (Istio reads that as oci://) */
  url: string;
  /** sha256 of the module (or image), 64 lowercase hex digits, no `sha256:` prefix */
  sha256?: string;
  imagePullPolicy?: WasmPluginPullPolicy;
  imagePullSecret?: string;
  pluginConfig?: Record<string, unknown>;
  /** the root id Envoy passes to the module */
  pluginName?: string;
  phase?: WasmPluginPhase;
  priority?: number;
  failStrategy?: FailStrategy;
  vmConfig?: { env?: WasmPluginEnvVar[] };
  match?: WasmPluginTrafficSelector[];
  type?: WasmPluginType;
}

export interface WasmPlugin {
  apiVersion: typeof WASM_PLUGIN_API_VERSION;
  kind: typeof WASM_PLUGIN_KIND;
  metadata: ObjectMeta & { name: string; namespace: string };
  spec: WasmPluginSpec;
}

/**
 * The order Istio gives the phases in the HTTP filter chain: AUTHN, AUTHZ, STATS, then
 * UNSPECIFIED_PHASE, which sits right before the router (where an EnvoyFilter usually inserts).
 */
export const WASM_PLUGIN_CHAIN_ORDER: readonly WasmPluginPhase[] = [
  'AUTHN',
  'AUTHZ',
  'STATS',
  'UNSPECIFIED_PHASE',
];

/** A WasmPlugin spec or env entry as read from a file: the documented field names, values not yet checked. */
export type Unchecked<T> = { [K in keyof T]?: unknown };
