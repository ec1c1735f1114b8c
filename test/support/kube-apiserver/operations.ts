/**
 * The semantics of the API verbs, independent of HTTP: create, get, list, update (main resource or
 * `/status`), delete with preconditions, finalizers and propagation policies. Both the HTTP layer and the
 * server's own controllers (garbage collector, namespace cleanup, CRD registration) go through here.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { admit, validateName } from './admission.js';
import type { ResourceRegistry, ResourceType } from './resources.js';
import { typeKey } from './resources.js';
import { errors } from './status.js';
import type { Meta, Obj, Store } from './store.js';

export interface WriteOptions {
  dryRun?: boolean;
  /** fieldValidation=Strict: unknown fields are an error instead of being pruned silently. */
  strict?: boolean;
}

export interface DeleteOptions {
  propagationPolicy?: 'Background' | 'Foreground' | 'Orphan';
  preconditions?: { uid?: string; resourceVersion?: string };
  dryRun?: boolean;
}

export type Hook = (t: ResourceType, obj: Obj, old: Obj | undefined, op: 'write' | 'delete') => void;

const now = (): string => new Date().toISOString().replace(/\.\d{3}Z$/, 'Z');
const clone = <T>(v: T): T => structuredClone(v);

/** Everything but metadata and status: what `metadata.generation` counts changes of. */
function specOf(o: Obj): string {
  const { metadata: _m, status: _s, apiVersion: _a, kind: _k, ...rest } = o;
  return JSON.stringify(rest);
}

function sameIgnoringRv(a: Obj, b: Obj): boolean {
  const strip = (o: Obj) => JSON.stringify({ ...o, metadata: { ...o.metadata, resourceVersion: '' } });
  return strip(a) === strip(b);
}

export function apiVersionOf(t: ResourceType, version: string): string {
  return t.group ? `${t.group}/${version}` : version;
}

export class Operations {
  /** Called after every stored change (CRD registration, garbage collection scheduling). */
  readonly hooks: Hook[] = [];

  constructor(
    readonly store: Store,
    readonly registry: ResourceRegistry,
  ) {}

  private key(t: ResourceType): string {
    return typeKey(t.group, t.plural);
  }

  get(t: ResourceType, ns: string | undefined, name: string): Obj {
    const o = this.store.get(this.key(t), t.namespaced ? ns : undefined, name);
    if (!o) throw errors.notFound(t.plural, t.group, name);
    return o;
  }

  list(t: ResourceType, ns: string | undefined): Obj[] {
    return this.store.list(this.key(t), t.namespaced ? ns : undefined);
  }

  private checkBody(t: ResourceType, version: string, body: unknown, ns: string | undefined): Obj {
    if (typeof body !== 'object' || body === null || Array.isArray(body))
      throw errors.badRequest('the request body must be a JSON object');
    const obj = clone(body) as Obj;
    if (obj.kind !== undefined && obj.kind !== t.kind)
      throw errors.badRequest(
        `the API version in the data (${String(obj.apiVersion)}) and kind (${String(obj.kind)}) do not match the resource ${t.plural}`,
      );
    obj.kind = t.kind;
    obj.apiVersion = apiVersionOf(t, version);
    obj.metadata = { ...((obj.metadata as Meta | undefined) ?? {}) } as Meta;
    if (t.namespaced) {
      if (obj.metadata.namespace && ns && obj.metadata.namespace !== ns)
        throw errors.badRequest(
          'the namespace of the provided object does not match the namespace sent on the request',
        );
      obj.metadata.namespace = obj.metadata.namespace || ns || 'default';
    } else delete obj.metadata.namespace;
    return obj;
  }

  private checkNamespace(t: ResourceType, ns: string | undefined): void {
    if (!t.namespaced || ns === undefined) return;
    const nsType = this.registry.get('', 'v1', 'namespaces')!;
    const namespace = this.store.get(this.key(nsType), undefined, ns);
    if (!namespace) throw errors.notFound('namespaces', '', ns);
    if (namespace.metadata.deletionTimestamp)
      throw errors.forbidden(
        `${t.plural}${t.group ? `.${t.group}` : ''} is forbidden: unable to create new content in namespace ${ns} because it is being terminated`,
      );
  }

  create(
    t: ResourceType,
    version: string,
    ns: string | undefined,
    body: unknown,
    opts: WriteOptions = {},
  ): Obj {
    const obj = this.checkBody(t, version, body, ns);
    const meta = obj.metadata;
    if (!meta.name) {
      if (typeof meta.generateName !== 'string' || !meta.generateName)
        throw errors.invalid(t.kind, t.group, '', [
          {
            reason: 'FieldValueRequired',
            field: 'metadata.name',
            message: 'Required value: name or generateName is required',
          },
        ]);
      meta.name = `${meta.generateName}${randomBytes(4).toString('hex').slice(0, 5)}`;
    }
    const nameCauses = validateName(t, meta.name);
    if (nameCauses.length > 0) throw errors.invalid(t.kind, t.group, meta.name, nameCauses);
    this.checkNamespace(t, meta.namespace);
    if (this.store.get(this.key(t), meta.namespace, meta.name))
      throw errors.alreadyExists(t.plural, t.group, meta.name);
    if (t.status) {
      if (t.plural === 'namespaces') {
        obj.status = { phase: 'Active' };
        obj.spec = { finalizers: ['kubernetes'] };
      } else if (t.plural === 'pods' && !t.group) obj.status = { phase: 'Pending' };
      else delete obj.status;
    }
    admit(t, version, obj, opts.strict ?? false);
    meta.uid = randomUUID();
    meta.creationTimestamp = now();
    delete meta.deletionTimestamp;
    delete meta.deletionGracePeriodSeconds;
    delete meta.managedFields;
    if (t.generation) meta.generation = 1;
    else delete meta.generation;
    if (opts.dryRun) return { ...obj, metadata: { ...meta, resourceVersion: '' } };
    meta.resourceVersion = String(this.store.nextRv());
    this.store.put(this.key(t), obj, 'ADDED');
    this.notify(t, obj, undefined, 'write');
    return obj;
  }

  update(
    t: ResourceType,
    version: string,
    ns: string | undefined,
    name: string,
    body: unknown,
    subresource: '' | 'status',
    opts: WriteOptions = {},
  ): Obj {
    const old = this.get(t, ns, name);
    const input = this.checkBody(t, version, body, t.namespaced ? (ns ?? old.metadata.namespace) : undefined);
    if (input.metadata.name && input.metadata.name !== name)
      throw errors.badRequest(
        `the name of the object (${input.metadata.name}) does not match the name on the URL (${name})`,
      );
    const wantRv = input.metadata.resourceVersion;
    if (wantRv && wantRv !== old.metadata.resourceVersion) throw errors.conflict(t.plural, t.group, name);
    if (input.metadata.uid && input.metadata.uid !== old.metadata.uid)
      throw errors.conflict(t.plural, t.group, name);
    let next: Obj;
    if (subresource === 'status') {
      next = clone(old);
      if (input.status === undefined) delete next.status;
      else next.status = input.status;
    } else {
      next = input;
      next.metadata = {
        ...input.metadata,
        name,
        namespace: old.metadata.namespace,
        uid: old.metadata.uid,
        creationTimestamp: old.metadata.creationTimestamp,
        generation: old.metadata.generation,
        deletionTimestamp: old.metadata.deletionTimestamp,
        deletionGracePeriodSeconds: old.metadata.deletionGracePeriodSeconds,
      } as Meta;
      for (const k of Object.keys(next.metadata)) if (next.metadata[k] === undefined) delete next.metadata[k];
      delete next.metadata.managedFields;
      if (t.status) {
        if (old.status === undefined) delete next.status;
        else next.status = clone(old.status);
      }
      if (t.plural === 'namespaces') next.spec = clone(old.spec);
      if (old.metadata.deletionTimestamp) {
        const added = (next.metadata.finalizers ?? []).filter(
          (f) => !(old.metadata.finalizers ?? []).includes(f),
        );
        if (added.length > 0)
          throw errors.invalid(t.kind, t.group, name, [
            {
              reason: 'FieldValueForbidden',
              field: 'metadata.finalizers',
              message: `Forbidden: no new finalizers can be added if the object is being deleted, found new finalizers ${JSON.stringify(added)}`,
            },
          ]);
      }
      admit(t, version, next, opts.strict ?? false);
      if (t.generation && specOf(next) !== specOf(old))
        next.metadata.generation = (old.metadata.generation ?? 0) + 1;
    }
    next.metadata.resourceVersion = old.metadata.resourceVersion;
    if (sameIgnoringRv(next, old)) return old; // a no-op update writes nothing and bumps nothing
    if (opts.dryRun) return next;
    next.metadata.resourceVersion = String(this.store.nextRv());
    this.store.put(this.key(t), next, 'MODIFIED');
    if (
      next.metadata.deletionTimestamp &&
      (next.metadata.finalizers ?? []).length === 0 &&
      !this.blockedByNamespaceSpec(t, next)
    ) {
      this.store.remove(this.key(t), next);
      this.notify(t, next, old, 'delete');
    } else this.notify(t, next, old, 'write');
    return next;
  }

  private blockedByNamespaceSpec(t: ResourceType, o: Obj): boolean {
    return (
      t.plural === 'namespaces' &&
      !t.group &&
      ((o.spec as { finalizers?: string[] })?.finalizers ?? []).length > 0
    );
  }

  delete(t: ResourceType, ns: string | undefined, name: string, opts: DeleteOptions = {}): Obj {
    const old = this.get(t, ns, name);
    const pre = opts.preconditions ?? {};
    if (pre.uid && pre.uid !== old.metadata.uid) throw errors.conflict(t.plural, t.group, name);
    if (pre.resourceVersion && pre.resourceVersion !== old.metadata.resourceVersion)
      throw errors.conflict(t.plural, t.group, name);
    const finalizers = [...(old.metadata.finalizers ?? [])];
    if (opts.propagationPolicy === 'Orphan' && !finalizers.includes('orphan')) finalizers.push('orphan');
    if (opts.propagationPolicy === 'Foreground' && !finalizers.includes('foregroundDeletion'))
      finalizers.push('foregroundDeletion');
    const graceful = finalizers.length > 0 || this.blockedByNamespaceSpec(t, old);
    if (opts.dryRun) return old;
    if (graceful) {
      if (old.metadata.deletionTimestamp && finalizers.length === (old.metadata.finalizers ?? []).length)
        return old;
      const next = clone(old);
      next.metadata.finalizers = finalizers;
      next.metadata.deletionTimestamp ??= now();
      next.metadata.deletionGracePeriodSeconds = 0;
      if (t.plural === 'namespaces' && !t.group)
        next.status = { ...(next.status as object), phase: 'Terminating' };
      next.metadata.resourceVersion = String(this.store.nextRv());
      this.store.put(this.key(t), next, 'MODIFIED');
      this.notify(t, next, old, 'write');
      return next;
    }
    this.store.remove(this.key(t), old);
    this.notify(t, old, old, 'delete');
    return old;
  }

  private notify(t: ResourceType, obj: Obj, old: Obj | undefined, op: 'write' | 'delete'): void {
    for (const h of this.hooks) h(t, obj, old, op);
  }
}
