/**
 * Renders the Istio EnvoyFilter for one validated ASMFilterDeployment (pure). The shape is the one ASM
 * generates for the seed: an HTTP filter inserted before the router in the HTTP connection manager,
 * loading the module from the node directory by its manifest digest.
 */
import { digestHex } from './reference.js';
import {
  DEFAULT_FILTERS_DIR,
  DIGEST_ANNOTATION,
  FILTER_DEPLOYMENT_API_VERSION,
  FILTER_DEPLOYMENT_KIND,
  MANAGED_BY_LABEL,
  MANAGED_BY_VALUE,
  SOURCE_ANNOTATION,
  type ObjectMeta,
  type OwnerReference,
  type PatchContext,
  type ValidFilterDeployment,
} from './types.js';

export const ENVOY_FILTER_API_VERSION = 'networking.istio.io/v1alpha3';
export const ENVOY_FILTER_KIND = 'EnvoyFilter';
export const WASM_FILTER_NAME = 'envoy.filters.http.wasm';
export const WASM_TYPE_URL = 'type.googleapis.com/envoy.extensions.filters.http.wasm.v3.Wasm';
export const STRING_VALUE_TYPE_URL = 'type.googleapis.com/google.protobuf.StringValue';
export const WASM_RUNTIME_V8 = 'envoy.wasm.runtime.v8';
export const HCM_FILTER_NAME = 'envoy.filters.network.http_connection_manager';
export const ROUTER_FILTER_NAME = 'envoy.filters.http.router';
/** Suffix of the generated EnvoyFilter's name, so it never collides with a user's own EnvoyFilter. */
export const ENVOY_FILTER_NAME_SUFFIX = '-wasmfilter';

/** The Envoy Wasm filter configuration (envoy.extensions.wasm.v3.PluginConfig), as JSON. */
export interface WasmPluginConfig {
  name: string;
  root_id?: string;
  configuration?: { '@type': typeof STRING_VALUE_TYPE_URL; value: string };
  vm_config: {
    runtime: typeof WASM_RUNTIME_V8;
    code: { local: { filename: string } };
  };
  fail_open: boolean;
}

export interface EnvoyFilter {
  apiVersion: typeof ENVOY_FILTER_API_VERSION;
  kind: typeof ENVOY_FILTER_KIND;
  metadata: ObjectMeta & { name: string; namespace: string };
  spec: {
    workloadSelector: { labels: Record<string, string> };
    configPatches: Array<{
      applyTo: 'HTTP_FILTER';
      match: {
        context: PatchContext;
        listener: { filterChain: { filter: { name: string; subFilter: { name: string } } } };
      };
      patch: {
        operation: 'INSERT_BEFORE';
        value: { name: string; typed_config: { '@type': typeof WASM_TYPE_URL; config: WasmPluginConfig } };
      };
    }>;
  };
}

export interface RenderOptions {
  /** The node directory the module lives in; default /var/local/lib/wasm-filters. */
  filtersDir?: string;
}

/** The file the agent stores a module under: `<dir>/<manifest-digest-hex>.wasm`. */
export function moduleFilename(digest: string, filtersDir: string = DEFAULT_FILTERS_DIR): string {
  return `${filtersDir.replace(/\/+$/, '')}/${digestHex(digest)}.wasm`;
}

/**
 * The EnvoyFilter's name for an ASMFilterDeployment: `<name>-wasmfilter`, shortened with a hash when that
 * would pass the 253-character limit, so it is stable and unique per CR.
 */
export function envoyFilterName(filterDeploymentName: string): string {
  return generatedName(filterDeploymentName, ENVOY_FILTER_NAME_SUFFIX);
}

/** `<name><suffix>`, or a prefix of name, a hash and the suffix when that would pass 253 characters. */
export function generatedName(filterDeploymentName: string, suffix: string): string {
  const full = `${filterDeploymentName}${suffix}`;
  if (full.length <= 253) return full;
  const hash = fnv1a(filterDeploymentName);
  return `${filterDeploymentName.slice(0, 253 - suffix.length - 9)}-${hash}${suffix}`;
}

/** FNV-1a (32-bit, hex): enough to keep shortened names distinct, and free of any Node import. */
function fnv1a(text: string): string {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h.toString(16).padStart(8, '0');
}

/** The owner reference that ties a generated object to its ASMFilterDeployment (needs the CR's uid). */
export function ownerReferenceFor(
  fd: Pick<ValidFilterDeployment, 'name' | 'uid'>,
): OwnerReference | undefined {
  if (fd.uid === undefined) return undefined;
  return {
    apiVersion: FILTER_DEPLOYMENT_API_VERSION,
    kind: FILTER_DEPLOYMENT_KIND,
    name: fd.name,
    uid: fd.uid,
    controller: true,
    blockOwnerDeletion: true,
  };
}

/** The Envoy Wasm plugin config for a filter deployment whose image resolved to `digest`. */
export function renderWasmConfig(
  fd: ValidFilterDeployment,
  digest: string,
  options: RenderOptions = {},
): WasmPluginConfig {
  const config: WasmPluginConfig = {
    name: fd.filter.id,
    vm_config: {
      runtime: WASM_RUNTIME_V8,
      code: { local: { filename: moduleFilename(digest, options.filtersDir) } },
    },
    fail_open: fd.filter.failOpen,
  };
  if (fd.filter.rootID !== undefined) config.root_id = fd.filter.rootID;
  if (fd.filter.parameters !== undefined) {
    config.configuration = { '@type': STRING_VALUE_TYPE_URL, value: fd.filter.parameters };
  }
  // Key order as Envoy documents it, so rendered YAML reads naturally.
  const { name, root_id, configuration, vm_config, fail_open } = config;
  return {
    name,
    ...(root_id !== undefined ? { root_id } : {}),
    ...(configuration !== undefined ? { configuration } : {}),
    vm_config,
    fail_open,
  };
}

/**
 * The EnvoyFilter for `fd`, loading the module pinned by `digest` (`sha256:<hex>`). It carries the
 * managed-by label, the source CR and digest as annotations, and an owner reference when the CR has a uid
 * (offline renders of a file have none).
 */
export function renderEnvoyFilter(
  fd: ValidFilterDeployment,
  digest: string,
  options: RenderOptions = {},
): EnvoyFilter {
  const owner = ownerReferenceFor(fd);
  const metadata: EnvoyFilter['metadata'] = {
    name: envoyFilterName(fd.name),
    namespace: fd.namespace,
    labels: { [MANAGED_BY_LABEL]: MANAGED_BY_VALUE },
    annotations: { [SOURCE_ANNOTATION]: `${fd.namespace}/${fd.name}`, [DIGEST_ANNOTATION]: digest },
  };
  if (owner !== undefined) metadata.ownerReferences = [owner];
  return {
    apiVersion: ENVOY_FILTER_API_VERSION,
    kind: ENVOY_FILTER_KIND,
    metadata,
    spec: {
      workloadSelector: { labels: { ...fd.workload.labels } },
      configPatches: [
        {
          applyTo: 'HTTP_FILTER',
          match: {
            context: fd.filter.patchContext,
            listener: {
              filterChain: { filter: { name: HCM_FILTER_NAME, subFilter: { name: ROUTER_FILTER_NAME } } },
            },
          },
          patch: {
            operation: 'INSERT_BEFORE',
            value: {
              name: WASM_FILTER_NAME,
              typed_config: { '@type': WASM_TYPE_URL, config: renderWasmConfig(fd, digest, options) },
            },
          },
        },
      ],
    },
  };
}
