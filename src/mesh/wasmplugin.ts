/**
 * Istio's WasmPlugin (`extensions.istio.io/v1alpha1`) for one validated ASMFilterDeployment (pure): the
 * alternative to the EnvoyFilter that modern Istio and ASM prefer. It loads the same node file
 * (`file://<dir>/<manifest-digest-hex>.wasm`), so the digest pinning, the agents and the gating are the
 * same. How the CR maps (Istio turns a WasmPlugin into an Envoy PluginConfig named `<ns>.<name>`, with
 * `pluginName` as its root id and `pluginConfig` as JSON text):
 *
 *   spec.workload.labels     -> selector.matchLabels
 *   spec.filter.parameters   -> pluginConfig (must be a JSON object: the field is a protobuf Struct)
 *   spec.filter.rootID       -> pluginName
 *   spec.filter.patchContext -> match[].mode: SIDECAR_INBOUND SERVER; SIDECAR_OUTBOUND and GATEWAY CLIENT
 *                               (Istio classes gateway listeners as client side); ANY no match (all)
 *   spec.filter.failOpen     -> failStrategy FAIL_OPEN / FAIL_CLOSE
 *   (no phase)               -> UNSPECIFIED_PHASE: at the end of the chain, before the router, where
 *                               the EnvoyFilter inserts it
 * `spec.filter.id` has no WasmPlugin counterpart (Istio names the plugin after the object).
 *
 * The types (wasmplugin-types.ts) cover the fields Istio documents; `meshwasm run -f` reads users'
 * WasmPlugins with the same ones.
 */
import { digestHex } from './reference.js';
import { generatedName, moduleFilename, ownerReferenceFor, type RenderOptions } from './envoyfilter.js';
import {
  DIGEST_ANNOTATION,
  MANAGED_BY_LABEL,
  MANAGED_BY_VALUE,
  SOURCE_ANNOTATION,
  type PatchContext,
  type ValidFilterDeployment,
} from './types.js';
import {
  WASM_PLUGIN_API_VERSION,
  WASM_PLUGIN_KIND,
  type WasmPlugin,
  type WasmPluginSpec,
  type WasmPluginTrafficSelector,
} from './wasmplugin-types.js';

/** Suffix of the generated WasmPlugin's name, so it never collides with a user's own. */
export const WASM_PLUGIN_NAME_SUFFIX = '-wasmplugin';
export * from './wasmplugin-types.js';

export interface WasmPluginRenderOptions extends RenderOptions {
  /** the module's own sha256 (`sha256:<hex>` or hex); without it the WasmPlugin carries none */
  moduleSha256?: string;
}

/** `<name>-wasmplugin`, shortened with a hash past 253 characters (as the EnvoyFilter's name is). */
export function wasmPluginName(filterDeploymentName: string): string {
  return generatedName(filterDeploymentName, WASM_PLUGIN_NAME_SUFFIX);
}

/** Which traffic the patch context means, in WasmPlugin terms (undefined: all of it). */
export function trafficSelectorFor(context: PatchContext): WasmPluginTrafficSelector[] | undefined {
  switch (context) {
    case 'SIDECAR_INBOUND':
      return [{ mode: 'SERVER' }];
    case 'SIDECAR_OUTBOUND':
    case 'GATEWAY':
      return [{ mode: 'CLIENT' }];
    case 'ANY':
      return undefined;
  }
}

/**
 * The WasmPlugin for `fd`, loading the node file of `digest`. Labels, annotations and the owner
 * reference are those of the EnvoyFilter, so the controller finds and gates both the same way.
 * Throws only when `fd.filter.parameters` is not a JSON object (validation rejects that for WasmPlugin).
 */
export function renderWasmPlugin(
  fd: ValidFilterDeployment,
  digest: string,
  options: WasmPluginRenderOptions = {},
): WasmPlugin {
  const metadata: WasmPlugin['metadata'] = {
    name: wasmPluginName(fd.name),
    namespace: fd.namespace,
    labels: { [MANAGED_BY_LABEL]: MANAGED_BY_VALUE },
    annotations: { [SOURCE_ANNOTATION]: `${fd.namespace}/${fd.name}`, [DIGEST_ANNOTATION]: digest },
  };
  const owner = ownerReferenceFor(fd);
  if (owner !== undefined) metadata.ownerReferences = [owner];
  const spec: WasmPluginSpec = {
    selector: { matchLabels: { ...fd.workload.labels } },
    url: `file://${moduleFilename(digest, options.filtersDir)}`,
  };
  if (options.moduleSha256 !== undefined)
    spec.sha256 = /^[a-f0-9]{64}$/.test(options.moduleSha256)
      ? options.moduleSha256
      : digestHex(options.moduleSha256);
  if (fd.filter.rootID !== undefined) spec.pluginName = fd.filter.rootID;
  if (fd.filter.parameters !== undefined) {
    const config: unknown = JSON.parse(fd.filter.parameters);
    if (typeof config !== 'object' || config === null || Array.isArray(config))
      throw new Error('spec.filter.parameters must be a JSON object for a WasmPlugin');
    spec.pluginConfig = config as Record<string, unknown>;
  }
  spec.failStrategy = fd.filter.failOpen ? 'FAIL_OPEN' : 'FAIL_CLOSE';
  const match = trafficSelectorFor(fd.filter.patchContext);
  if (match !== undefined) spec.match = match;
  spec.type = 'HTTP';
  return { apiVersion: WASM_PLUGIN_API_VERSION, kind: WASM_PLUGIN_KIND, metadata, spec };
}
