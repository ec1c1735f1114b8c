/**
 * The filter chain a cluster's Envoy would run, read from the mesh's own YAML: Istio `EnvoyFilter`s (as
 * the controller renders them or as users write them) and Istio `WasmPlugin`s
 * (`extensions.istio.io/v1alpha1`). Pure: text in, filter specs out; reading files and pulling OCI
 * references is the caller's job (cli/run.ts).
 *
 * Order, as Istio builds the HTTP filter chain: WasmPlugins by phase (AUTHN, AUTHZ, STATS, then
 * UNSPECIFIED_PHASE, which sits right before the router), higher `priority` first within a phase, ties in
 * file order; EnvoyFilter patches are applied after that, so an INSERT_FIRST patch goes to the front and
 * every other insert (INSERT_BEFORE/INSERT_AFTER/ADD, typically "before the router") after the
 * WasmPlugins, in file and patch order. Fields with no meaning for one local workload (selectors,
 * match, pull policy and secrets) are accepted and ignored, and so are other objects in the same file.
 */
import { basename, join } from 'node:path';
import { parseAllDocuments } from 'yaml';
import { MeshwasmError } from '../errors.js';
import {
  WASM_PLUGIN_API_VERSION,
  WASM_PLUGIN_CHAIN_ORDER,
  WASM_PLUGIN_KIND,
  type FailStrategy,
  type Unchecked,
  type WasmPluginEnvVar,
  type WasmPluginPhase,
  type WasmPluginSpec,
  type WasmPluginType,
} from '../mesh/wasmplugin-types.js';
import type { FilterSpec } from './spec.js';

const WASM_TYPE = 'type.googleapis.com/envoy.extensions.filters.http.wasm.v3.Wasm';
const TYPED_STRUCT_TYPES = new Set([
  'type.googleapis.com/udpa.type.v1.TypedStruct',
  'type.googleapis.com/xds.type.v3.TypedStruct',
]);
const WASM_PLUGIN_GROUP = `${WASM_PLUGIN_API_VERSION.split('/')[0]!}/`;
/** What a local HTTP sidecar can run (NETWORK plugins and FAIL_RELOAD have no meaning here). */
const RUNNABLE_TYPES: ReadonlySet<unknown> = new Set<WasmPluginType>(['HTTP', 'UNSPECIFIED_PLUGIN_TYPE']);
const RUNNABLE_STRATEGIES: ReadonlySet<unknown> = new Set<FailStrategy>(['FAIL_CLOSE', 'FAIL_OPEN']);

/** A filter of the chain; `reference` (from a WasmPlugin url) is an OCI reference still to be pulled. */
export interface MeshFilter extends FilterSpec {
  reference?: string;
}

export interface MeshConfigOptions {
  /** Stands in for the node's filters directory: local module files are looked up here by file name. */
  filtersDir?: string;
  /** Where a WasmPlugin's `vmConfig.env` entries with `valueFrom: HOST` are read (the caller passes process.env). */
  hostEnv?: Readonly<Record<string, string | undefined>>;
}

type Json = Record<string, unknown>;
const isObject = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);

/** Where in which file: every error names the document and the field. */
class Place {
  constructor(
    readonly source: string,
    readonly what: string,
  ) {}
  fail(field: string, problem: string, hint: string): never {
    throw new MeshwasmError('INVALID_INPUT', `${this.source}: ${this.what}: ${field} ${problem}`, { hint });
  }
}

/** Parses one YAML (or JSON) text holding EnvoyFilters and WasmPlugins (also inside a `kind: List`). */
export function parseMeshConfig(text: string, source: string, options: MeshConfigOptions = {}): MeshFilter[] {
  const objects: Array<{ value: unknown; where: string }> = [];
  parseAllDocuments(text).forEach((doc, i) => {
    const where = `document ${i + 1}`;
    if (doc.errors.length > 0) {
      throw new MeshwasmError(
        'INVALID_INPUT',
        `${source}: ${where}: not valid YAML: ${doc.errors[0]!.message}`,
        {
          hint: 'check the indentation and quoting around the reported line',
        },
      );
    }
    const value: unknown = doc.toJS();
    if (value === null || value === undefined) return; // an empty document (e.g. a trailing ---)
    if (isObject(value) && value.kind === 'List' && Array.isArray(value.items))
      value.items.forEach((item: unknown, j) => objects.push({ value: item, where: `${where} items[${j}]` }));
    else objects.push({ value, where });
  });
  return chainOf(objects, source, options);
}

/** The chain from already-parsed objects (e.g. an EnvoyFilter the caller rendered). */
export function chainOf(
  objects: ReadonlyArray<{ value: unknown; where: string }>,
  source: string,
  options: MeshConfigOptions = {},
): MeshFilter[] {
  const first: MeshFilter[] = [];
  const plugins: Array<{ filter: MeshFilter; phase: number; priority: number; order: number }> = [];
  const after: MeshFilter[] = [];
  const skipped: string[] = [];
  for (const { value, where } of objects) {
    const top: Place = new Place(source, where); // typed: fail() narrows only through a typed name
    if (!isObject(value)) top.fail('', 'is not an object', 'give Kubernetes objects');
    const name =
      isObject(value.metadata) && typeof value.metadata.name === 'string' ? value.metadata.name : '';
    const place: Place = new Place(
      source,
      `${where} (${typeof value.kind === 'string' ? value.kind : 'no kind'}${name ? ` "${name}"` : ''})`,
    );
    if (value.kind === 'EnvoyFilter') {
      for (const patch of envoyFilterPatches(value, place, options))
        (patch.first ? first : after).push(patch.filter);
    } else if (value.kind === WASM_PLUGIN_KIND) {
      const { filter, phase, priority } = wasmPlugin(value, place, options);
      plugins.push({ filter, phase, priority, order: plugins.length });
    } else {
      // Other objects (a Deployment, the workload patch `meshwasm render` prints) hold no filter.
      skipped.push(place.what);
    }
  }
  plugins.sort((a, b) => a.phase - b.phase || b.priority - a.priority || a.order - b.order);
  const chain = [...first, ...plugins.map((p) => p.filter), ...after];
  if (chain.length === 0) {
    const others = skipped.length > 0 ? ` (only ${skipped.join(', ')})` : '';
    throw new MeshwasmError('INVALID_INPUT', `${source}: no EnvoyFilter or WasmPlugin in it${others}`, {
      hint: 'give EnvoyFilters with an envoy.filters.http.wasm patch, or WasmPlugins',
    });
  }
  return chain;
}

function envoyFilterPatches(
  ef: Json,
  place: Place,
  options: MeshConfigOptions,
): Array<{ filter: MeshFilter; first: boolean }> {
  const hint =
    'give an EnvoyFilter whose configPatches insert envoy.filters.http.wasm with a local vm_config.code file';
  if (!isObject(ef.spec)) place.fail('spec', 'is missing', hint);
  const patches = ef.spec.configPatches;
  if (!Array.isArray(patches) || patches.length === 0)
    place.fail('spec.configPatches', 'is missing or empty', hint);
  const out: Array<{ filter: MeshFilter; first: boolean }> = [];
  const metaName = isObject(ef.metadata) && typeof ef.metadata.name === 'string' ? ef.metadata.name : 'wasm';
  patches.forEach((patch: unknown, i) => {
    const at = `spec.configPatches[${i}]`;
    if (!isObject(patch) || !isObject(patch.patch)) place.fail(at, 'has no patch', hint);
    // Only patches that add an HTTP filter make a filter of the chain; the rest (clusters, routes,
    // MERGE/REMOVE) change nothing a local sidecar runs.
    // (Both may be left out of a hand-written patch that only carries the filter.)
    if (patch.applyTo !== undefined && patch.applyTo !== 'HTTP_FILTER') return;
    const operation = patch.patch.operation;
    if (
      operation !== undefined &&
      !['INSERT_FIRST', 'INSERT_BEFORE', 'INSERT_AFTER', 'ADD'].includes(String(operation))
    )
      return;
    const value = patch.patch.value;
    if (!isObject(value) || !isObject(value.typed_config))
      place.fail(`${at}.patch.value.typed_config`, 'is missing', hint);
    const config = wasmConfig(value.typed_config, `${at}.patch.value.typed_config`, place, hint);
    const filter = fromWasmConfig(config.config, config.at, place, options, `${metaName}`);
    out.push({ filter, first: operation === 'INSERT_FIRST' });
  });
  if (out.length === 0) place.fail('spec.configPatches', 'adds no HTTP filter', hint);
  return out;
}

/** The Wasm PluginConfig of a typed_config: the Wasm message itself, or one wrapped in a TypedStruct. */
function wasmConfig(typed: Json, at: string, place: Place, hint: string): { config: Json; at: string } {
  const type = typed['@type'];
  if (type === WASM_TYPE) {
    if (!isObject(typed.config)) place.fail(`${at}.config`, 'is missing', hint);
    return { config: typed.config, at: `${at}.config` };
  }
  if (typeof type === 'string' && TYPED_STRUCT_TYPES.has(type)) {
    if (typed.type_url !== WASM_TYPE)
      place.fail(`${at}.type_url`, `is ${JSON.stringify(typed.type_url)}, not ${WASM_TYPE}`, hint);
    if (!isObject(typed.value) || !isObject(typed.value.config))
      place.fail(`${at}.value.config`, 'is missing', hint);
    return { config: typed.value.config, at: `${at}.value.config` };
  }
  // Accept an untyped config too (hand-written files often leave @type out).
  if (type === undefined && isObject(typed.config)) return { config: typed.config, at: `${at}.config` };
  if (type === undefined && isObject(typed.value) && isObject(typed.value.config))
    return { config: typed.value.config, at: `${at}.value.config` };
  return place.fail(
    `${at}.@type`,
    `is ${JSON.stringify(type)}: only ${WASM_TYPE} (or a TypedStruct of it) can be run`,
    hint,
  );
}

/** A google.protobuf.StringValue (`{"@type": ..., value}`), a bare string, or absent. */
function stringValue(v: unknown, at: string, place: Place): string | undefined {
  if (v === undefined || v === null) return undefined;
  if (typeof v === 'string') return v;
  if (isObject(v) && typeof v.value === 'string') return v.value;
  // A google.protobuf.Struct/Any of JSON (TypedStruct configs): Envoy hands it over as JSON text.
  if (isObject(v) && isObject(v.value)) return JSON.stringify(v.value);
  return place.fail(
    at,
    'must be a google.protobuf.StringValue ({"@type": ..., "value": "..."})',
    'put the configuration text in value',
  );
}

function fromWasmConfig(
  config: Json,
  at: string,
  place: Place,
  options: MeshConfigOptions,
  fallbackName: string,
): MeshFilter {
  const vm = config.vm_config;
  if (!isObject(vm)) place.fail(`${at}.vm_config`, 'is missing', 'give vm_config.code.local.filename');
  const code = vm.code;
  if (isObject(code) && isObject(code.remote))
    place.fail(
      `${at}.vm_config.code.remote`,
      'is not supported',
      'pull the module (meshwasm pull) and point code.local.filename at it, with --filters-dir',
    );
  const local = isObject(code) && isObject(code.local) ? code.local : undefined;
  if (typeof local?.filename !== 'string' || local.filename.length === 0)
    place.fail(
      `${at}.vm_config.code.local.filename`,
      'is missing (only local module files can be run)',
      'give the path of the .wasm file',
    );
  if (config.fail_open !== undefined && typeof config.fail_open !== 'boolean')
    place.fail(
      `${at}.fail_open`,
      'must be true or false',
      'fail_open: true skips a broken filter, false answers 503',
    );
  const filter: MeshFilter = {
    name: typeof config.name === 'string' && config.name.length > 0 ? config.name : fallbackName,
    file: moduleFile(local.filename, options),
    failOpen: config.fail_open === true,
  };
  if (config.root_id !== undefined) {
    if (typeof config.root_id !== 'string')
      place.fail(`${at}.root_id`, 'must be a string', 'the root id the module registers');
    filter.rootId = config.root_id;
  }
  const configuration = stringValue(config.configuration, `${at}.configuration`, place);
  if (configuration !== undefined) filter.configuration = configuration;
  const vmConfiguration = stringValue(vm.configuration, `${at}.vm_config.configuration`, place);
  if (vmConfiguration !== undefined) filter.vmConfiguration = vmConfiguration;
  if (vm.vm_id !== undefined) {
    if (typeof vm.vm_id !== 'string')
      place.fail(`${at}.vm_config.vm_id`, 'must be a string', 'filters with the same vm_id share a VM');
    filter.vmId = vm.vm_id;
  }
  const env = vm.environment_variables;
  if (isObject(env) && isObject(env.key_values)) {
    filter.env = Object.fromEntries(Object.entries(env.key_values).map(([k, v]) => [k, String(v)]));
  }
  return filter;
}

function moduleFile(path: string, options: MeshConfigOptions): string {
  return options.filtersDir === undefined ? path : join(options.filtersDir, basename(path));
}

function wasmPlugin(
  wp: Json,
  place: Place,
  options: MeshConfigOptions,
): { filter: MeshFilter; phase: number; priority: number } {
  if (wp.apiVersion !== undefined && !String(wp.apiVersion).startsWith(WASM_PLUGIN_GROUP))
    place.fail(
      'apiVersion',
      `is ${JSON.stringify(wp.apiVersion)}`,
      `a WasmPlugin is ${WASM_PLUGIN_API_VERSION}`,
    );
  if (!isObject(wp.spec)) place.fail('spec', 'is missing', 'give spec.url');
  // The documented field names, checked one by one below: a field renamed in the type breaks this code.
  const spec: Unchecked<WasmPluginSpec> = wp.spec;
  const metaName =
    isObject(wp.metadata) && typeof wp.metadata.name === 'string' ? wp.metadata.name : undefined;
  if (spec.type !== undefined && !RUNNABLE_TYPES.has(spec.type))
    place.fail(
      'spec.type',
      `is ${JSON.stringify(spec.type)}: only HTTP plugins can be run`,
      'meshwasm run is an HTTP sidecar',
    );
  if (typeof spec.url !== 'string' || spec.url.length === 0)
    place.fail(
      'spec.url',
      'is missing',
      'give file:///path/to/filter.wasm, oci://registry/repo:tag or registry/repo:tag',
    );
  const filter: MeshFilter = { name: metaName ?? 'wasmplugin', failOpen: false };
  const url = spec.url;
  if (url.startsWith('file://')) {
    const path = decodeURIComponent(url.slice('file://'.length));
    if (!path.startsWith('/'))
      place.fail('spec.url', `"${url}" is not an absolute file:// URL`, 'use file:///absolute/path.wasm');
    filter.file = moduleFile(path, options);
  } else if (/^https?:\/\//.test(url)) {
    place.fail(
      'spec.url',
      `"${url}": http(s) downloads are not supported`,
      'push the module to a registry and use oci://, or download it and use file://',
    );
  } else {
    filter.reference = url.startsWith('oci://') ? url.slice('oci://'.length) : url;
  }
  if (spec.sha256 !== undefined) {
    if (typeof spec.sha256 !== 'string' || !/^[0-9a-f]{64}$/.test(spec.sha256))
      place.fail(
        'spec.sha256',
        'must be 64 lower-case hex digits',
        'the sha256 of the module file, as sha256sum prints it',
      );
    filter.sha256 = spec.sha256;
  }
  if (spec.pluginName !== undefined) {
    if (typeof spec.pluginName !== 'string')
      place.fail('spec.pluginName', 'must be a string', 'the root id the module registers');
    filter.rootId = spec.pluginName;
  }
  if (spec.pluginConfig !== undefined) {
    // Istio hands pluginConfig (a google.protobuf.Struct) to the filter as JSON text.
    if (!isObject(spec.pluginConfig))
      place.fail('spec.pluginConfig', 'must be an object', 'pluginConfig is a YAML/JSON object');
    filter.configuration = JSON.stringify(spec.pluginConfig);
  }
  const strategy = spec.failStrategy ?? 'FAIL_CLOSE';
  if (!RUNNABLE_STRATEGIES.has(strategy))
    place.fail(
      'spec.failStrategy',
      `is ${JSON.stringify(strategy)}`,
      'FAIL_CLOSE (the default) or FAIL_OPEN',
    );
  filter.failOpen = strategy === 'FAIL_OPEN';
  const phase = spec.phase ?? 'UNSPECIFIED_PHASE';
  const phaseIndex = WASM_PLUGIN_CHAIN_ORDER.indexOf(phase as WasmPluginPhase);
  if (phaseIndex < 0)
    place.fail('spec.phase', `is ${JSON.stringify(phase)}`, `one of ${WASM_PLUGIN_CHAIN_ORDER.join(', ')}`);
  const priority = spec.priority ?? 0;
  if (typeof priority !== 'number' || !Number.isInteger(priority))
    place.fail('spec.priority', 'must be an integer', 'higher priorities run first within a phase');
  if (spec.vmConfig !== undefined) filter.env = vmEnv(spec.vmConfig, place, options.hostEnv ?? {});
  return { filter, phase: phaseIndex, priority };
}

/** vmConfig.env: INLINE values as given, HOST values from this process's environment (as Istio does). */
function vmEnv(
  vmConfig: unknown,
  place: Place,
  hostEnv: Readonly<Record<string, string | undefined>>,
): Record<string, string> {
  if (!isObject(vmConfig))
    place.fail('spec.vmConfig', 'must be an object', 'vmConfig: {env: [{name, value}]}');
  const config: Unchecked<NonNullable<WasmPluginSpec['vmConfig']>> = vmConfig;
  const env: Record<string, string> = {};
  if (config.env === undefined) return env;
  if (!Array.isArray(config.env))
    place.fail('spec.vmConfig.env', 'must be a list', 'env: [{name: X, value: Y}]');
  config.env.forEach((raw: unknown, i) => {
    const at = `spec.vmConfig.env[${i}]`;
    const entry: Unchecked<WasmPluginEnvVar> = isObject(raw) ? raw : {};
    const name = entry.name;
    if (typeof name !== 'string' || name.length === 0)
      place.fail(`${at}.name`, 'is missing', 'each entry needs a name');
    const from = entry.valueFrom ?? 'INLINE';
    if (from === 'HOST') {
      const host = hostEnv[name];
      if (host !== undefined) env[name] = host;
    } else if (from === 'INLINE') {
      env[name] = entry.value === undefined ? '' : String(entry.value);
    } else {
      place.fail(`${at}.valueFrom`, `is ${JSON.stringify(from)}`, 'INLINE (the default) or HOST');
    }
  });
  return env;
}
