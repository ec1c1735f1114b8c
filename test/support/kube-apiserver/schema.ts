/**
 * Structural OpenAPI v3 schemas of CRDs, applied the way the API server applies them to custom
 * resources: defaulting, pruning of unknown fields (unless `x-kubernetes-preserve-unknown-fields`), and
 * validation of types, required fields, enums, patterns and bounds. `metadata`, `apiVersion` and `kind`
 * at the root are the server's business and are not pruned.
 */
import type { StatusCause } from './status.js';

export interface JsonSchema {
  type?: string;
  properties?: Record<string, JsonSchema>;
  additionalProperties?: JsonSchema | boolean;
  items?: JsonSchema;
  required?: string[];
  enum?: unknown[];
  default?: unknown;
  nullable?: boolean;
  pattern?: string;
  minLength?: number;
  maxLength?: number;
  minimum?: number;
  maximum?: number;
  minItems?: number;
  maxItems?: number;
  minProperties?: number;
  'x-kubernetes-preserve-unknown-fields'?: boolean;
  'x-kubernetes-int-or-string'?: boolean;
  'x-kubernetes-embedded-resource'?: boolean;
}

export interface SchemaResult {
  causes: StatusCause[];
  /** Paths of fields removed by pruning (for `fieldValidation=Strict`). */
  pruned: string[];
}

const isObject = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v);

function typeOk(schema: JsonSchema, v: unknown): boolean {
  if (schema['x-kubernetes-int-or-string']) return typeof v === 'string' || Number.isInteger(v);
  switch (schema.type) {
    case undefined:
      return true;
    case 'object':
      return isObject(v);
    case 'array':
      return Array.isArray(v);
    case 'string':
      return typeof v === 'string';
    case 'integer':
      return Number.isInteger(v);
    case 'number':
      return typeof v === 'number';
    case 'boolean':
      return typeof v === 'boolean';
    default:
      return true;
  }
}

function walk(value: unknown, schema: JsonSchema, path: string, out: SchemaResult, root: boolean): void {
  if (value === null) {
    if (!schema.nullable)
      out.causes.push({
        reason: 'FieldValueTypeInvalid',
        field: path,
        message: `Invalid value: "null": ${path} in body must be of type ${schema.type ?? 'object'}: "null"`,
      });
    return;
  }
  if (!typeOk(schema, value)) {
    const got = Array.isArray(value) ? 'array' : typeof value;
    out.causes.push({
      reason: 'FieldValueTypeInvalid',
      field: path,
      message: `Invalid value: "${got}": ${path} in body must be of type ${schema.type}: "${got}"`,
    });
    return;
  }
  if (schema.enum && !schema.enum.some((e) => JSON.stringify(e) === JSON.stringify(value))) {
    out.causes.push({
      reason: 'FieldValueNotSupported',
      field: path,
      message: `Unsupported value: ${JSON.stringify(value)}: supported values: ${schema.enum.map((e) => JSON.stringify(e)).join(', ')}`,
    });
  }
  if (typeof value === 'string') {
    if (schema.pattern && !new RegExp(schema.pattern, 'u').test(value))
      out.causes.push({
        field: path,
        message: `Invalid value: "${value}": ${path} in body should match '${schema.pattern}'`,
      });
    if (schema.minLength !== undefined && value.length < schema.minLength)
      out.causes.push({
        field: path,
        message: `Invalid value: "${value}": ${path} in body should be at least ${schema.minLength} chars long`,
      });
    if (schema.maxLength !== undefined && value.length > schema.maxLength)
      out.causes.push({ field: path, message: `Too long: may not be longer than ${schema.maxLength}` });
  }
  if (typeof value === 'number') {
    if (schema.minimum !== undefined && value < schema.minimum)
      out.causes.push({
        field: path,
        message: `Invalid value: ${value}: ${path} in body should be greater than or equal to ${schema.minimum}`,
      });
    if (schema.maximum !== undefined && value > schema.maximum)
      out.causes.push({
        field: path,
        message: `Invalid value: ${value}: ${path} in body should be less than or equal to ${schema.maximum}`,
      });
  }
  if (Array.isArray(value)) {
    if (schema.minItems !== undefined && value.length < schema.minItems)
      out.causes.push({
        field: path,
        message: `Invalid value: ${value.length}: ${path} in body should have at least ${schema.minItems} items`,
      });
    if (schema.maxItems !== undefined && value.length > schema.maxItems)
      out.causes.push({
        field: path,
        message: `Too many: ${value.length}: must have at most ${schema.maxItems} items`,
      });
    if (schema.items) value.forEach((item, i) => walk(item, schema.items!, `${path}[${i}]`, out, false));
    return;
  }
  if (!isObject(value)) return;
  const props = schema.properties ?? {};
  for (const [k, sub] of Object.entries(props)) {
    if (value[k] === undefined && sub.default !== undefined) value[k] = structuredClone(sub.default);
  }
  if (schema.minProperties !== undefined && Object.keys(value).length < schema.minProperties)
    out.causes.push({
      field: path,
      message: `Invalid value: ${Object.keys(value).length}: ${path} in body should have at least ${schema.minProperties} properties`,
    });
  for (const req of schema.required ?? []) {
    if (value[req] === undefined)
      out.causes.push({ reason: 'FieldValueRequired', field: `${path}.${req}`, message: 'Required value' });
  }
  for (const [k, v] of Object.entries(value)) {
    const childPath = path ? `${path}.${k}` : k;
    if (root && (k === 'metadata' || k === 'apiVersion' || k === 'kind')) continue;
    const sub = props[k];
    if (sub) walk(v, sub, childPath, out, false);
    else if (isObject(schema.additionalProperties))
      walk(v, schema.additionalProperties, childPath, out, false);
    else if (schema.additionalProperties === true || schema['x-kubernetes-preserve-unknown-fields']) continue;
    else if (schema.properties || schema.type === 'object') {
      delete value[k];
      out.pruned.push(childPath);
    }
  }
}

/** Defaults, prunes (in place) and validates a custom resource against its version's schema. */
export function applySchema(obj: Record<string, unknown>, schema: JsonSchema): SchemaResult {
  const out: SchemaResult = { causes: [], pruned: [] };
  walk(obj, schema, '', out, true);
  // Field paths as the real server prints them: no leading dot.
  for (const c of out.causes) if (c.field?.startsWith('.')) c.field = c.field.slice(1);
  return out;
}
