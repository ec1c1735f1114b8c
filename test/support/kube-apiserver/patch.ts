/**
 * The three patch formats of the Kubernetes API: JSON merge patch (RFC 7386), JSON patch (RFC 6902) and
 * strategic merge patch, the last with the merge keys and directives that `kubectl apply` produces for
 * the built-in kinds (containers by name, volumes by name, ports by containerPort, `$patch`,
 * `$retainKeys`, `$setElementOrder/`, `$deleteFromPrimitiveList/`).
 */
import { errors } from './status.js';

type Json = unknown;
type JsonObject = Record<string, Json>;
const isObject = (v: unknown): v is JsonObject => typeof v === 'object' && v !== null && !Array.isArray(v);

export function mergePatch(target: Json, patch: Json): Json {
  if (!isObject(patch)) return structuredClone(patch);
  const out: JsonObject = isObject(target) ? { ...target } : {};
  for (const [k, v] of Object.entries(patch)) {
    if (v === null) delete out[k];
    else out[k] = mergePatch(out[k], v);
  }
  return out;
}

function unescapePointer(token: string): string {
  return token.replace(/~1/g, '/').replace(/~0/g, '~');
}

function parsePointer(pointer: string): string[] {
  if (pointer === '') return [];
  if (!pointer.startsWith('/')) throw errors.badRequest(`invalid JSON pointer: "${pointer}"`);
  return pointer.slice(1).split('/').map(unescapePointer);
}

function locate(doc: Json, tokens: string[]): { parent: Json; key: string } {
  let cur = doc;
  for (const t of tokens.slice(0, -1)) {
    if (Array.isArray(cur)) cur = cur[Number(t)];
    else if (isObject(cur)) cur = cur[t];
    else cur = undefined;
    if (cur === undefined) throw errors.unprocessable(`doc is missing path: "/${tokens.join('/')}"`);
  }
  return { parent: cur, key: tokens[tokens.length - 1] ?? '' };
}

function getAt(doc: Json, pointer: string): Json {
  let cur = doc;
  for (const t of parsePointer(pointer)) {
    cur = Array.isArray(cur) ? cur[Number(t)] : isObject(cur) ? cur[t] : undefined;
    if (cur === undefined) throw errors.unprocessable(`doc is missing path: "${pointer}"`);
  }
  return cur;
}

function removeAt(doc: Json, pointer: string): Json {
  const { parent, key } = locate(doc, parsePointer(pointer));
  if (Array.isArray(parent)) {
    const i = Number(key);
    if (!(i >= 0 && i < parent.length))
      throw errors.unprocessable(`unable to remove nonexistent key: ${pointer}`);
    return parent.splice(i, 1)[0];
  }
  if (!isObject(parent) || !(key in parent))
    throw errors.unprocessable(`unable to remove nonexistent key: ${key}: missing value`);
  const old = parent[key];
  delete parent[key];
  return old;
}

function addAt(doc: Json, pointer: string, value: Json, replace: boolean): Json {
  const tokens = parsePointer(pointer);
  if (tokens.length === 0) return value;
  const { parent, key } = locate(doc, tokens);
  if (Array.isArray(parent)) {
    const i = key === '-' ? parent.length : Number(key);
    if (!(i >= 0 && i <= parent.length))
      throw errors.unprocessable(`add operation does not apply: index out of bounds: ${pointer}`);
    if (replace) parent[i] = value;
    else parent.splice(i, 0, value);
  } else if (isObject(parent)) {
    if (replace && !(key in parent))
      throw errors.unprocessable(`replace operation does not apply: doc is missing key: ${pointer}`);
    parent[key] = value;
  } else throw errors.unprocessable(`doc is missing path: "${pointer}"`);
  return doc;
}

export function jsonPatch(target: Json, ops: Json): Json {
  if (!Array.isArray(ops)) throw errors.badRequest('json patch must be an array of operations');
  let doc = structuredClone(target);
  for (const op of ops) {
    if (!isObject(op) || typeof op.path !== 'string') throw errors.badRequest('invalid json patch operation');
    switch (op.op) {
      case 'add':
        doc = addAt(doc, op.path, structuredClone(op.value), false);
        break;
      case 'replace':
        doc = addAt(doc, op.path, structuredClone(op.value), true);
        break;
      case 'remove':
        removeAt(doc, op.path);
        break;
      case 'move': {
        const v = removeAt(doc, String(op.from));
        doc = addAt(doc, op.path, v, false);
        break;
      }
      case 'copy':
        doc = addAt(doc, op.path, structuredClone(getAt(doc, String(op.from))), false);
        break;
      case 'test':
        if (JSON.stringify(getAt(doc, op.path)) !== JSON.stringify(op.value))
          throw errors.unprocessable(`testing value ${op.path} failed: test failed`);
        break;
      default:
        throw errors.badRequest(`unexpected json patch operation "${String(op.op)}"`);
    }
  }
  return doc;
}

/**
 * Merge keys of the lists that the built-in kinds merge by key (patchMergeKey in the upstream types);
 * lists not named here are replaced whole, which is what upstream does for atomic lists.
 */
function mergeKeyFor(path: string[], field: string): string | undefined {
  const inContainer = path.some(
    (p) => p === 'containers' || p === 'initContainers' || p === 'ephemeralContainers',
  );
  switch (field) {
    case 'containers':
    case 'initContainers':
    case 'ephemeralContainers':
    case 'volumes':
    case 'env':
    case 'imagePullSecrets':
    case 'secrets':
    case 'resourceClaims':
      return 'name';
    case 'volumeMounts':
      return 'mountPath';
    case 'volumeDevices':
      return 'devicePath';
    case 'ports':
      return inContainer ? 'containerPort' : 'port';
    case 'ownerReferences':
      return 'uid';
    case 'conditions':
      return 'type';
    case 'hostAliases':
      return 'ip';
    case 'topologySpreadConstraints':
      return 'topologyKey';
    default:
      return undefined;
  }
}

/** Primitive lists with patchStrategy merge (union instead of replace). */
const mergedPrimitiveLists = new Set(['finalizers']);

function mergeList(orig: Json[], patch: Json[], path: string[], field: string): Json[] {
  const key = mergeKeyFor(path, field);
  if (patch.some((e) => isObject(e) && e.$patch === 'replace')) {
    return patch.filter((e) => !(isObject(e) && e.$patch === 'replace'));
  }
  if (!key) {
    if (mergedPrimitiveLists.has(field)) {
      const out = [...orig];
      for (const v of patch) if (!out.includes(v)) out.push(v);
      return out;
    }
    return structuredClone(patch);
  }
  const out = structuredClone(orig);
  for (const p of patch) {
    if (!isObject(p)) continue;
    const idx = out.findIndex((o) => isObject(o) && o[key] === p[key]);
    if (p.$patch === 'delete') {
      if (idx >= 0) out.splice(idx, 1);
      continue;
    }
    if (idx >= 0) out[idx] = strategicMerge(out[idx], p, [...path, field]);
    else out.push(strategicMerge({}, p, [...path, field]));
  }
  return out;
}

function reorder(list: Json[], order: Json[], key: string | undefined): Json[] {
  const id = (e: Json) => JSON.stringify(key && isObject(e) ? e[key] : e);
  const rank = new Map(order.map((e, i) => [id(e), i]));
  const known = list.filter((e) => rank.has(id(e))).sort((a, b) => rank.get(id(a))! - rank.get(id(b))!);
  return [...known, ...list.filter((e) => !rank.has(id(e)))];
}

export function strategicMerge(target: Json, patch: Json, path: string[] = []): Json {
  if (!isObject(patch)) return structuredClone(patch);
  if (patch.$patch === 'replace') {
    const rest = { ...patch };
    delete rest.$patch;
    return structuredClone(rest);
  }
  let out: JsonObject = isObject(target) ? { ...target } : {};
  if (Array.isArray(patch.$retainKeys)) {
    const keep = new Set(patch.$retainKeys as string[]);
    out = Object.fromEntries(Object.entries(out).filter(([k]) => keep.has(k)));
  }
  const orders: [string, Json[]][] = [];
  for (const [k, v] of Object.entries(patch)) {
    if (k === '$patch' || k === '$retainKeys') continue;
    if (k.startsWith('$setElementOrder/')) {
      if (Array.isArray(v)) orders.push([k.slice('$setElementOrder/'.length), v]);
      continue;
    }
    if (k.startsWith('$deleteFromPrimitiveList/')) {
      const field = k.slice('$deleteFromPrimitiveList/'.length);
      const cur = out[field];
      if (Array.isArray(cur) && Array.isArray(v)) out[field] = cur.filter((e) => !v.includes(e));
      continue;
    }
    if (v === null) delete out[k];
    else if (isObject(v) && v.$patch === 'delete') delete out[k];
    else if (Array.isArray(v))
      out[k] = mergeList(Array.isArray(out[k]) ? (out[k] as Json[]) : [], v, path, k);
    else if (isObject(v)) out[k] = strategicMerge(out[k], v, [...path, k]);
    else out[k] = v;
  }
  for (const [field, order] of orders) {
    const cur = out[field];
    if (Array.isArray(cur)) out[field] = reorder(cur, order, mergeKeyFor(path, field));
  }
  return out;
}
