/**
 * The server-side controllers that give the stored objects their real lifecycle:
 * - CRD registration: a CustomResourceDefinition serves its resource as soon as it is stored, becomes
 *   Established, and on deletion removes every instance before it goes away;
 * - the garbage collector: dependents whose owners are all gone are deleted (background propagation),
 *   `orphan` and `foregroundDeletion` finalizers are processed;
 * - namespace cleanup: a terminating namespace loses its content, then disappears.
 */
import type { Operations } from './operations.js';
import { typeKey, type PrinterColumn, type ResourceType } from './resources.js';
import type { JsonSchema } from './schema.js';
import type { Obj } from './store.js';

const CRD_FINALIZER = 'customresourcecleanup.apiextensions.k8s.io';

interface CrdVersion {
  name: string;
  served?: boolean;
  storage?: boolean;
  schema?: { openAPIV3Schema?: JsonSchema };
  subresources?: { status?: object };
  additionalPrinterColumns?: PrinterColumn[];
}

function typeFromCrd(crd: Obj): ResourceType {
  const spec = crd.spec as {
    group: string;
    scope: string;
    names: { plural: string; singular?: string; kind: string; shortNames?: string[]; categories?: string[] };
    versions: CrdVersion[];
  };
  const served = spec.versions.filter((v) => v.served !== false);
  // The storage version first: it is the preferred version in discovery.
  served.sort((a, b) => Number(b.storage === true) - Number(a.storage === true));
  return {
    group: spec.group,
    versions: served.map((v) => v.name),
    plural: spec.names.plural,
    singular: spec.names.singular ?? spec.names.kind.toLowerCase(),
    kind: spec.names.kind,
    namespaced: spec.scope === 'Namespaced',
    shortNames: spec.names.shortNames ?? [],
    categories: spec.names.categories ?? [],
    status: spec.versions.some((v) => v.subresources?.status !== undefined),
    generation: true,
    schemas: Object.fromEntries(spec.versions.map((v) => [v.name, v.schema?.openAPIV3Schema])),
    printerColumns: Object.fromEntries(spec.versions.map((v) => [v.name, v.additionalPrinterColumns ?? []])),
    crd: crd.metadata.name,
  };
}

export class Controllers {
  private scheduled = false;
  private readonly crdType: ResourceType;

  constructor(private readonly ops: Operations) {
    this.crdType = ops.registry.get('apiextensions.k8s.io', 'v1', 'customresourcedefinitions')!;
    ops.hooks.push((t, obj, old, op) => this.onChange(t, obj, old, op));
  }

  private onChange(t: ResourceType, obj: Obj, _old: Obj | undefined, op: 'write' | 'delete'): void {
    if (t === this.crdType) {
      if (op === 'write' && !obj.metadata.deletionTimestamp) this.ops.registry.add(typeFromCrd(obj));
      if (op === 'delete') {
        const gone = typeFromCrd(obj);
        this.ops.registry.remove(gone.group, gone.plural);
        this.ops.store.dropType(typeKey(gone.group, gone.plural));
      }
    }
    if (
      op === 'delete' ||
      obj.metadata.deletionTimestamp ||
      obj.metadata.ownerReferences?.length ||
      t === this.crdType
    )
      this.schedule();
  }

  /** Runs the controllers soon, once, however many changes asked for it. */
  schedule(): void {
    if (this.scheduled) return;
    this.scheduled = true;
    setTimeout(() => {
      this.scheduled = false;
      try {
        this.reconcile();
      } catch {
        this.schedule(); // an object moved under us (a conflict); go round again
      }
    }, 0);
  }

  private typeOf(key: string): ResourceType | undefined {
    return this.ops.registry.byKey(key);
  }

  private version(t: ResourceType): string {
    return t.versions[0]!;
  }

  private removeFinalizer(t: ResourceType, o: Obj, finalizer: string): void {
    const next = structuredClone(o);
    next.metadata.finalizers = (o.metadata.finalizers ?? []).filter((f) => f !== finalizer);
    this.ops.update(t, this.version(t), o.metadata.namespace, o.metadata.name, next, '');
  }

  private deleteQuietly(t: ResourceType, o: Obj): void {
    if (o.metadata.deletionTimestamp) return;
    this.ops.delete(t, o.metadata.namespace, o.metadata.name, { propagationPolicy: 'Background' });
  }

  private reconcile(): void {
    const all = [...this.ops.store.entries()];
    const live = new Set(all.map(([, o]) => o.metadata.uid));
    // CRDs: finalizer on creation, Established status, cleanup of instances on deletion.
    for (const [, crd] of all.filter(([k]) => k === typeKey(this.crdType.group, this.crdType.plural)))
      this.crd(crd);
    for (const [key, o] of all) {
      const t = this.typeOf(key);
      if (!t) continue;
      const current = this.ops.store.get(key, o.metadata.namespace, o.metadata.name);
      if (!current || current.metadata.uid !== o.metadata.uid) continue;
      const fin = current.metadata.finalizers ?? [];
      if (current.metadata.deletionTimestamp && fin.includes('orphan')) {
        for (const [dk, d] of all) {
          if (!d.metadata.ownerReferences?.some((r) => r.uid === current.metadata.uid)) continue;
          const dt = this.typeOf(dk);
          const latest = this.ops.store.get(dk, d.metadata.namespace, d.metadata.name);
          if (!dt || !latest) continue;
          const next = structuredClone(latest);
          next.metadata.ownerReferences = latest.metadata.ownerReferences!.filter(
            (r) => r.uid !== current.metadata.uid,
          );
          if (next.metadata.ownerReferences.length === 0) delete next.metadata.ownerReferences;
          this.ops.update(dt, this.version(dt), d.metadata.namespace, d.metadata.name, next, '');
        }
        this.removeFinalizer(t, this.ops.store.get(key, o.metadata.namespace, o.metadata.name)!, 'orphan');
        continue;
      }
      if (current.metadata.deletionTimestamp && fin.includes('foregroundDeletion')) {
        const dependents = all.filter(([, d]) =>
          d.metadata.ownerReferences?.some((r) => r.uid === current.metadata.uid),
        );
        for (const [dk, d] of dependents) {
          const dt = this.typeOf(dk);
          const latest = this.ops.store.get(dk, d.metadata.namespace, d.metadata.name);
          if (dt && latest) this.deleteQuietly(dt, latest);
        }
        const remaining = [...this.ops.store.entries()].some(([, d]) =>
          d.metadata.ownerReferences?.some((r) => r.uid === current.metadata.uid),
        );
        if (!remaining) this.removeFinalizer(t, current, 'foregroundDeletion');
        continue;
      }
      const refs = current.metadata.ownerReferences ?? [];
      if (refs.length > 0) {
        const liveRefs = refs.filter((r) => live.has(r.uid));
        if (liveRefs.length === 0) this.deleteQuietly(t, current);
        else if (liveRefs.length < refs.length) {
          const next = structuredClone(current);
          next.metadata.ownerReferences = liveRefs;
          this.ops.update(t, this.version(t), current.metadata.namespace, current.metadata.name, next, '');
        }
      }
      if (t.plural === 'namespaces' && !t.group && current.metadata.deletionTimestamp)
        this.namespace(current);
    }
  }

  private crd(crd: Obj): void {
    const t = this.crdType;
    const fin = crd.metadata.finalizers ?? [];
    if (!crd.metadata.deletionTimestamp) {
      if (!fin.includes(CRD_FINALIZER)) {
        const next = structuredClone(crd);
        next.metadata.finalizers = [...fin, CRD_FINALIZER];
        crd = this.ops.update(t, 'v1', undefined, crd.metadata.name, next, '');
      }
      const spec = crd.spec as { names: object; versions: CrdVersion[] };
      const conditions = [
        { type: 'NamesAccepted', status: 'True', reason: 'NoConflicts', message: 'no conflicts found' },
        {
          type: 'Established',
          status: 'True',
          reason: 'InitialNamesAccepted',
          message: 'the initial names have been accepted',
        },
      ];
      const status = {
        conditions: conditions.map((c) => ({
          ...c,
          lastTransitionTime:
            (crd.status as { conditions?: { lastTransitionTime?: string }[] })?.conditions?.[0]
              ?.lastTransitionTime ?? new Date().toISOString().replace(/\.\d{3}Z$/, 'Z'),
        })),
        acceptedNames: spec.names,
        storedVersions: spec.versions.filter((v) => v.storage).map((v) => v.name),
      };
      if (JSON.stringify(crd.status) !== JSON.stringify(status))
        this.ops.update(t, 'v1', undefined, crd.metadata.name, { ...crd, status }, 'status');
      return;
    }
    if (!fin.includes(CRD_FINALIZER)) return;
    const served = typeFromCrd(crd);
    const key = typeKey(served.group, served.plural);
    const instances = this.ops.store.list(key);
    const registered = this.ops.registry.byKey(key);
    if (registered) for (const o of instances) this.deleteQuietly(registered, o);
    if (this.ops.store.list(key).length === 0) this.removeFinalizer(t, crd, CRD_FINALIZER);
  }

  private namespace(ns: Obj): void {
    let remaining = 0;
    for (const [key, o] of [...this.ops.store.entries()]) {
      if (o.metadata.namespace !== ns.metadata.name) continue;
      const t = this.typeOf(key);
      if (!t) continue;
      remaining++;
      this.deleteQuietly(t, o);
    }
    if (remaining > 0) {
      // Objects with finalizers keep the namespace until their controllers let go.
      setTimeout(() => this.schedule(), 50);
      return;
    }
    const nsType = this.ops.registry.get('', 'v1', 'namespaces')!;
    const next = structuredClone(ns);
    next.spec = { finalizers: [] };
    this.ops.store.remove(typeKey('', 'namespaces'), next);
    for (const h of this.ops.hooks) h(nsType, next, ns, 'delete');
  }
}
