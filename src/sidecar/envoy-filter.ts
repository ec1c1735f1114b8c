/**
 * Reads the Wasm plugin out of a rendered Istio EnvoyFilter, so the sidecar can run exactly what a
 * cluster's Envoy would: name, root_id, configuration (a google.protobuf.StringValue), the module file
 * (vm_config.code.local.filename) and fail_open. Accepts the typed_config both as the Wasm message
 * itself (`config` at the top) and wrapped in a udpa TypedStruct (`value.config`). Pure; no I/O.
 */
import { basename, join } from 'node:path';
import { MeshwasmError } from '../errors.js';
import type { FilterSpec } from './spec.js';

const WASM_TYPE = 'type.googleapis.com/envoy.extensions.filters.http.wasm.v3.Wasm';

type Json = Record<string, unknown>;
const isObject = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);

function fail(where: string, what: string): never {
  throw new MeshwasmError('INVALID_INPUT', `EnvoyFilter ${where}: ${what}`, {
    hint: 'give an EnvoyFilter whose first configPatch inserts envoy.filters.http.wasm with a local vm_config.code file',
  });
}

function pluginConfig(typed: Json): Json {
  if (isObject(typed.config)) return typed.config;
  // udpa.type.v1.TypedStruct / xds.type.v3.TypedStruct: {type_url, value: {config}}
  if (isObject(typed.value) && isObject(typed.value.config)) return typed.value.config;
  return fail('typed_config', `has no Wasm plugin config (expected config or value.config in ${WASM_TYPE})`);
}

function stringConfiguration(configuration: unknown): string | undefined {
  if (configuration === undefined) return undefined;
  if (typeof configuration === 'string') return configuration;
  if (isObject(configuration) && typeof configuration.value === 'string') return configuration.value;
  return fail(
    'config.configuration',
    'must be a google.protobuf.StringValue ({"@type": ..., "value": "..."})',
  );
}

/**
 * `baseDir`, when given, stands in for the node's filters directory: the module is looked up there by
 * its file name (the agent names files by digest, so the name alone identifies the module).
 */
export function filterFromEnvoyFilter(envoyFilter: unknown, baseDir?: string): FilterSpec {
  if (!isObject(envoyFilter) || !isObject(envoyFilter.spec)) fail('', 'is not an object with a spec');
  const patches = envoyFilter.spec.configPatches;
  if (!Array.isArray(patches) || patches.length === 0) fail('spec.configPatches', 'is missing or empty');
  const patch = patches[0] as unknown;
  const value = isObject(patch) && isObject(patch.patch) ? patch.patch.value : undefined;
  if (!isObject(value) || !isObject(value.typed_config))
    fail('spec.configPatches[0].patch.value', 'has no typed_config');
  const config = pluginConfig(value.typed_config);
  const vmConfig = config.vm_config;
  const code = isObject(vmConfig) && isObject(vmConfig.code) ? vmConfig.code : undefined;
  const local = code && isObject(code.local) ? code.local : undefined;
  const filename = local?.filename;
  if (typeof filename !== 'string' || filename.length === 0) {
    fail('config.vm_config.code.local.filename', 'is missing (only local module files can be run)');
  }
  const metadataName =
    isObject(envoyFilter.metadata) && typeof envoyFilter.metadata.name === 'string'
      ? envoyFilter.metadata.name
      : 'wasm';
  const vmConfiguration = isObject(vmConfig) ? stringConfiguration(vmConfig.configuration) : undefined;
  const spec: FilterSpec = {
    name: typeof config.name === 'string' && config.name.length > 0 ? config.name : metadataName,
    file: baseDir === undefined ? filename : join(baseDir, basename(filename)),
    failOpen: config.fail_open === true,
  };
  if (typeof config.root_id === 'string') spec.rootId = config.root_id;
  const configuration = stringConfiguration(config.configuration);
  if (configuration !== undefined) spec.configuration = configuration;
  if (vmConfiguration !== undefined) spec.vmConfiguration = vmConfiguration;
  if (isObject(vmConfig) && typeof vmConfig.vm_id === 'string') spec.vmId = vmConfig.vm_id;
  return spec;
}
