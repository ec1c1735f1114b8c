/**
 * Validation of an ASMFilterDeployment (pure). It collects every problem rather than stopping at the
 * first, names each by its field path, and returns the normalised form with all defaults applied, so
 * the controller can put the whole explanation in the CR's status and rendering never re-checks input.
 */
import { MeshwasmError } from '../errors.js';
import { parseImageReference } from './reference.js';
import {
  DEFAULT_MESH_CONFIG,
  DEFAULT_PATCH_CONTEXT,
  FILTER_DEPLOYMENT_API_VERSION,
  MESH_CONFIG_KINDS,
  FILTER_DEPLOYMENT_KIND,
  PATCH_CONTEXTS,
  PULL_POLICIES,
  WORKLOAD_KINDS,
  type ImageReference,
  type MeshConfigKind,
  type PatchContext,
  type PullPolicy,
  type ValidFilterDeployment,
  type WorkloadKind,
} from './types.js';

export interface FieldError {
  /** Dotted path of the offending field, e.g. `spec.filter.parameters`. */
  field: string;
  message: string;
}

export type ValidationResult =
  { ok: true; value: ValidFilterDeployment } | { ok: false; errors: FieldError[] };

export interface ValidateOptions {
  /** Namespace to assume when metadata.namespace is absent (what `kubectl apply` would use). */
  defaultNamespace?: string;
  /** What to generate when the CR does not say (spec.meshConfig); default EnvoyFilter. */
  defaultMeshConfig?: MeshConfigKind;
}

const DNS_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const LABEL_NAME = /^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$/;
const LABEL_VALUE = /^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$/;
const SPEC_FIELDS = new Set(['meshConfig', 'workload', 'filter']);
const WORKLOAD_FIELDS = new Set(['kind', 'labels']);
const FILTER_FIELDS = new Set([
  'patchContext',
  'parameters',
  'image',
  'rootID',
  'id',
  'imagePullPolicy',
  'failOpen',
]);

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function describe(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  return typeof value === 'string' ? `"${value}"` : `a ${typeof value}`;
}

function oneOf<T extends string>(allowed: readonly T[], value: unknown): value is T {
  return typeof value === 'string' && (allowed as readonly string[]).includes(value);
}

function unknownFields(obj: Record<string, unknown>, known: Set<string>, path: string, errors: FieldError[]) {
  for (const key of Object.keys(obj)) {
    if (!known.has(key)) {
      errors.push({ field: `${path}.${key}`, message: `unknown field (known: ${[...known].join(', ')})` });
    }
  }
}

/** True for a valid label key: optional DNS-subdomain prefix and a name of at most 63 characters. */
function validLabelKey(key: string): boolean {
  const slash = key.indexOf('/');
  const prefix = slash >= 0 ? key.slice(0, slash) : undefined;
  const name = slash >= 0 ? key.slice(slash + 1) : key;
  if (prefix !== undefined && (prefix.length > 253 || !DNS_SUBDOMAIN.test(prefix))) return false;
  return name.length <= 63 && LABEL_NAME.test(name);
}

/** Istio's and Kubernetes' default: re-pull moving tags, keep pinned or versioned ones. */
export function defaultPullPolicy(ref: ImageReference): PullPolicy {
  if (ref.digest !== undefined) return 'IfNotPresent';
  return ref.tag === undefined || ref.tag === 'latest' ? 'Always' : 'IfNotPresent';
}

export function validateFilterDeployment(input: unknown, options: ValidateOptions = {}): ValidationResult {
  const errors: FieldError[] = [];
  if (!isRecord(input)) {
    return { ok: false, errors: [{ field: '', message: `expected an object, got ${describe(input)}` }] };
  }
  if (input.apiVersion !== FILTER_DEPLOYMENT_API_VERSION) {
    errors.push({
      field: 'apiVersion',
      message: `must be ${FILTER_DEPLOYMENT_API_VERSION}, got ${describe(input.apiVersion)}`,
    });
  }
  if (input.kind !== FILTER_DEPLOYMENT_KIND) {
    errors.push({ field: 'kind', message: `must be ${FILTER_DEPLOYMENT_KIND}, got ${describe(input.kind)}` });
  }

  const metadata = isRecord(input.metadata) ? input.metadata : {};
  if (!isRecord(input.metadata))
    errors.push({ field: 'metadata', message: 'is required (an object with a name)' });
  const name = metadata.name;
  if (typeof name !== 'string' || name.length === 0) {
    errors.push({ field: 'metadata.name', message: 'is required' });
  } else if (name.length > 253 || !DNS_SUBDOMAIN.test(name)) {
    errors.push({
      field: 'metadata.name',
      message: `"${name}" is not a valid name (lowercase DNS subdomain)`,
    });
  }
  let namespace = options.defaultNamespace ?? 'default';
  if (metadata.namespace !== undefined) {
    if (typeof metadata.namespace !== 'string' || metadata.namespace.length === 0) {
      errors.push({
        field: 'metadata.namespace',
        message: `must be a non-empty string, got ${describe(metadata.namespace)}`,
      });
    } else {
      namespace = metadata.namespace;
    }
  }

  const spec = input.spec;
  if (!isRecord(spec)) {
    errors.push({ field: 'spec', message: 'is required (an object with workload and filter)' });
    return { ok: false, errors };
  }
  unknownFields(spec, SPEC_FIELDS, 'spec', errors);

  // spec.workload
  let kind: WorkloadKind | undefined;
  const labels: Record<string, string> = {};
  const workload = spec.workload;
  if (!isRecord(workload)) {
    errors.push({ field: 'spec.workload', message: 'is required (an object with kind and labels)' });
  } else {
    unknownFields(workload, WORKLOAD_FIELDS, 'spec.workload', errors);
    if (oneOf(WORKLOAD_KINDS, workload.kind)) kind = workload.kind;
    else {
      errors.push({
        field: 'spec.workload.kind',
        message: `must be one of ${WORKLOAD_KINDS.join(', ')}, got ${describe(workload.kind)}`,
      });
    }
    if (!isRecord(workload.labels) || Object.keys(workload.labels).length === 0) {
      errors.push({
        field: 'spec.workload.labels',
        message: 'must be a non-empty map of label names to values (it selects the workloads to filter)',
      });
    } else {
      for (const [key, value] of Object.entries(workload.labels)) {
        const field = `spec.workload.labels.${key}`;
        if (!validLabelKey(key)) errors.push({ field, message: `"${key}" is not a valid label name` });
        else if (typeof value !== 'string')
          errors.push({ field, message: `must be a string, got ${describe(value)}` });
        else if (value.length > 63 || !LABEL_VALUE.test(value)) {
          errors.push({ field, message: `"${value}" is not a valid label value` });
        } else labels[key] = value;
      }
    }
  }

  // spec.filter
  const filter = spec.filter;
  if (!isRecord(filter)) {
    errors.push({ field: 'spec.filter', message: 'is required (an object with at least image)' });
    return { ok: false, errors };
  }
  unknownFields(filter, FILTER_FIELDS, 'spec.filter', errors);

  let patchContext: PatchContext = DEFAULT_PATCH_CONTEXT;
  if (filter.patchContext !== undefined) {
    if (oneOf(PATCH_CONTEXTS, filter.patchContext)) patchContext = filter.patchContext;
    else {
      errors.push({
        field: 'spec.filter.patchContext',
        message: `must be one of ${PATCH_CONTEXTS.join(', ')}, got ${describe(filter.patchContext)}`,
      });
    }
  }

  let parameters: string | undefined;
  if (filter.parameters !== undefined) {
    if (typeof filter.parameters !== 'string') {
      errors.push({
        field: 'spec.filter.parameters',
        message: `must be a string holding JSON (quote it in YAML), got ${describe(filter.parameters)}`,
      });
    } else {
      try {
        JSON.parse(filter.parameters);
        parameters = filter.parameters;
      } catch (err) {
        errors.push({
          field: 'spec.filter.parameters',
          message: `is not valid JSON: ${err instanceof Error ? err.message : String(err)}`,
        });
      }
    }
  }

  let image = '';
  let reference: ImageReference | undefined;
  if (typeof filter.image !== 'string' || filter.image.length === 0) {
    errors.push({ field: 'spec.filter.image', message: 'is required (the OCI reference of the Wasm image)' });
  } else {
    image = filter.image;
    try {
      reference = parseImageReference(image);
    } catch (err) {
      errors.push({ field: 'spec.filter.image', message: err instanceof Error ? err.message : String(err) });
    }
  }

  let rootID: string | undefined;
  if (filter.rootID !== undefined) {
    if (typeof filter.rootID === 'string') rootID = filter.rootID;
    else
      errors.push({
        field: 'spec.filter.rootID',
        message: `must be a string, got ${describe(filter.rootID)}`,
      });
  }

  let id = typeof name === 'string' ? `${name}.${namespace}` : '';
  if (filter.id !== undefined) {
    if (typeof filter.id === 'string' && filter.id.length > 0) id = filter.id;
    else
      errors.push({
        field: 'spec.filter.id',
        message: `must be a non-empty string, got ${describe(filter.id)}`,
      });
  }

  let imagePullPolicy: PullPolicy | undefined;
  if (filter.imagePullPolicy !== undefined) {
    if (oneOf(PULL_POLICIES, filter.imagePullPolicy)) imagePullPolicy = filter.imagePullPolicy;
    else {
      errors.push({
        field: 'spec.filter.imagePullPolicy',
        message: `must be one of ${PULL_POLICIES.join(', ')}, got ${describe(filter.imagePullPolicy)}`,
      });
    }
  }

  let failOpen = false;
  if (filter.failOpen !== undefined) {
    if (typeof filter.failOpen === 'boolean') failOpen = filter.failOpen;
    else
      errors.push({
        field: 'spec.filter.failOpen',
        message: `must be true or false, got ${describe(filter.failOpen)}`,
      });
  }

  let meshConfig = options.defaultMeshConfig ?? DEFAULT_MESH_CONFIG;
  if (spec.meshConfig !== undefined) {
    if (oneOf(MESH_CONFIG_KINDS, spec.meshConfig)) meshConfig = spec.meshConfig;
    else
      errors.push({
        field: 'spec.meshConfig',
        message: `must be one of ${MESH_CONFIG_KINDS.join(', ')}, got ${describe(spec.meshConfig)}`,
      });
  }
  // A WasmPlugin's pluginConfig is a protobuf Struct: only a JSON object can travel in it.
  if (meshConfig === 'WasmPlugin' && parameters !== undefined && !isRecord(JSON.parse(parameters))) {
    errors.push({
      field: 'spec.filter.parameters',
      message:
        'must be a JSON object for a WasmPlugin (its pluginConfig is an object); wrap the value in {...} or use meshConfig: EnvoyFilter',
    });
  }

  if (errors.length > 0 || kind === undefined || reference === undefined || typeof name !== 'string') {
    return { ok: false, errors };
  }
  const value: ValidFilterDeployment = {
    name,
    namespace,
    meshConfig,
    workload: { kind, labels },
    filter: {
      patchContext,
      parameters,
      image,
      reference,
      rootID,
      id,
      imagePullPolicy: imagePullPolicy ?? defaultPullPolicy(reference),
      failOpen,
    },
  };
  if (typeof metadata.uid === 'string' && metadata.uid.length > 0) value.uid = metadata.uid;
  if (typeof metadata.generation === 'number') value.generation = metadata.generation;
  return { ok: true, value };
}

/** One line per error, `field: message`, for status messages and CLI output. */
export function formatFieldErrors(errors: readonly FieldError[]): string {
  return errors.map((e) => (e.field ? `${e.field}: ${e.message}` : e.message)).join('; ');
}

/** Like validateFilterDeployment, but throws a MeshwasmError (INVALID_INPUT) listing every problem. */
export function parseFilterDeployment(input: unknown, options: ValidateOptions = {}): ValidFilterDeployment {
  const result = validateFilterDeployment(input, options);
  if (result.ok) return result.value;
  const name =
    isRecord(input) && isRecord(input.metadata) && typeof input.metadata.name === 'string'
      ? input.metadata.name
      : '(unnamed)';
  throw new MeshwasmError(
    'INVALID_INPUT',
    `invalid ASMFilterDeployment ${name}: ${formatFieldErrors(result.errors)}`,
    {
      hint: 'fix the fields named above; see the seed filter.yaml for a complete example',
    },
  );
}
