/**
 * Per-kind defaulting and validation done by the real server's strategies and admission: names,
 * Secrets (stringData folded into data, base64, the dockerconfigjson type's required key), CRDs
 * (names, scope, one storage version) and custom resources (their structural schema).
 */
import type { ResourceType } from './resources.js';
import { applySchema } from './schema.js';
import { errors, type StatusCause } from './status.js';
import type { Obj } from './store.js';

const dnsSubdomain = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const dnsLabel = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;

export function validateName(t: ResourceType, name: string): StatusCause[] {
  const label = t.plural === 'namespaces';
  const ok = label ? dnsLabel.test(name) && name.length <= 63 : dnsSubdomain.test(name) && name.length <= 253;
  if (ok) return [];
  const what = label
    ? "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-'"
    : "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.'";
  return [
    {
      field: 'metadata.name',
      message: `Invalid value: "${name}": ${what}, and must start and end with an alphanumeric character`,
    },
  ];
}

function isBase64(s: unknown): boolean {
  return typeof s === 'string' && /^[A-Za-z0-9+/]*={0,2}$/.test(s) && s.length % 4 === 0;
}

function secret(obj: Obj): StatusCause[] {
  const causes: StatusCause[] = [];
  const data = { ...((obj.data as Record<string, unknown> | undefined) ?? {}) };
  for (const [k, v] of Object.entries(data)) {
    if (!isBase64(v))
      throw errors.badRequest(
        `Secret in version "v1" cannot be handled as a Secret: illegal base64 data at key "${k}"`,
      );
  }
  const stringData = obj.stringData as Record<string, unknown> | undefined;
  if (stringData) {
    for (const [k, v] of Object.entries(stringData)) data[k] = Buffer.from(String(v)).toString('base64');
    delete obj.stringData;
  }
  obj.data = data;
  obj.type ??= 'Opaque';
  if (obj.type === 'kubernetes.io/dockerconfigjson') {
    const raw = data['.dockerconfigjson'];
    if (raw === undefined)
      causes.push({
        reason: 'FieldValueRequired',
        field: 'data[.dockerconfigjson]',
        message: 'Required value',
      });
    else {
      try {
        JSON.parse(Buffer.from(String(raw), 'base64').toString('utf8'));
      } catch (e) {
        causes.push({
          field: 'data[.dockerconfigjson]',
          message: `Invalid value: "<secret contents redacted>": ${(e as Error).message}`,
        });
      }
    }
  }
  return causes;
}

function crd(obj: Obj): StatusCause[] {
  const spec = (obj.spec ?? {}) as Record<string, unknown>;
  const names = (spec.names ?? {}) as Record<string, unknown>;
  const versions = (spec.versions ?? []) as Record<string, unknown>[];
  const causes: StatusCause[] = [];
  if (typeof spec.group !== 'string' || !spec.group)
    causes.push({ field: 'spec.group', message: 'Required value' });
  if (typeof names.plural !== 'string' || !names.plural)
    causes.push({ field: 'spec.names.plural', message: 'Required value' });
  if (typeof names.kind !== 'string' || !names.kind)
    causes.push({ field: 'spec.names.kind', message: 'Required value' });
  if (spec.scope !== 'Namespaced' && spec.scope !== 'Cluster')
    causes.push({
      field: 'spec.scope',
      message: `Unsupported value: "${String(spec.scope)}": supported values: "Cluster", "Namespaced"`,
    });
  if (versions.length === 0)
    causes.push({
      field: 'spec.versions',
      message: 'Invalid value: must have exactly one version marked as storage version',
    });
  else if (versions.filter((v) => v.storage === true).length !== 1)
    causes.push({
      field: 'spec.versions',
      message: 'Invalid value: must have exactly one version marked as storage version',
    });
  if (names.plural && spec.group && obj.metadata.name !== `${String(names.plural)}.${String(spec.group)}`)
    causes.push({
      field: 'metadata.name',
      message: `Invalid value: "${obj.metadata.name}": must be spec.names.plural+"."+spec.group`,
    });
  return causes;
}

/** Defaulting and validation; throws 422 Invalid with every cause, or 400 for undecodable input. */
export function admit(t: ResourceType, version: string, obj: Obj, strict: boolean): void {
  let causes: StatusCause[] = [];
  if (t.plural === 'secrets' && !t.group) causes = secret(obj);
  else if (t.plural === 'customresourcedefinitions') causes = crd(obj);
  else if (t.plural === 'configmaps' && !t.group) {
    for (const [k, v] of Object.entries((obj.data as Record<string, unknown>) ?? {}))
      if (typeof v !== 'string')
        throw errors.badRequest(
          `ConfigMap in version "v1" cannot be handled as a ConfigMap: data[${k}] must be a string`,
        );
  } else if (t.schemas?.[version]) {
    const result = applySchema(obj, t.schemas[version]!);
    if (strict && result.pruned.length > 0)
      throw errors.badRequest(
        `strict decoding error: ${result.pruned.map((p) => `unknown field "${p}"`).join(', ')}`,
      );
    causes = result.causes;
  }
  if (causes.length > 0) throw errors.invalid(t.kind, t.group, obj.metadata.name, causes);
}
