/**
 * The object store: one global, monotonically increasing resourceVersion (like etcd's revision), the
 * objects per resource type, a bounded history of change events for watches that resume from an older
 * resourceVersion, and the live subscribers. Stored objects are never mutated in place: every write puts
 * a fresh object, so history entries and watch backlogs can share them safely.
 */
export type Obj = Record<string, unknown> & { metadata: Meta };
export interface Meta {
  name: string;
  namespace?: string;
  uid: string;
  resourceVersion: string;
  generation?: number;
  creationTimestamp: string;
  deletionTimestamp?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  finalizers?: string[];
  ownerReferences?: {
    apiVersion: string;
    kind: string;
    name: string;
    uid: string;
    controller?: boolean;
    blockOwnerDeletion?: boolean;
  }[];
  [k: string]: unknown;
}

export type EventType = 'ADDED' | 'MODIFIED' | 'DELETED';
export interface ChangeEvent {
  rv: number;
  key: string; // resource type key (group/plural)
  type: EventType;
  object: Obj;
  old?: Obj;
}

export type Listener = (e: ChangeEvent) => void;

const objKey = (ns: string | undefined, name: string): string => `${ns ?? ''}/${name}`;

export class Store {
  private revision = 0;
  private readonly data = new Map<string, Map<string, Obj>>();
  private history: ChangeEvent[] = [];
  /** Events at or below this revision are gone from history: resuming a watch there is a 410. */
  private compactedAt = 0;
  private readonly listeners = new Set<Listener>();

  constructor(private readonly maxHistory = 200_000) {}

  get rv(): number {
    return this.revision;
  }

  get compactedRevision(): number {
    return this.compactedAt;
  }

  nextRv(): number {
    return ++this.revision;
  }

  get(key: string, ns: string | undefined, name: string): Obj | undefined {
    return this.data.get(key)?.get(objKey(ns, name));
  }

  list(key: string, ns?: string): Obj[] {
    const all = [...(this.data.get(key)?.values() ?? [])];
    const scoped = ns === undefined ? all : all.filter((o) => o.metadata.namespace === ns);
    return scoped.sort((a, b) =>
      objKey(a.metadata.namespace, a.metadata.name).localeCompare(
        objKey(b.metadata.namespace, b.metadata.name),
      ),
    );
  }

  /** Every stored object of every type (for the garbage collector and namespace cleanup). */
  *entries(): Generator<[string, Obj]> {
    for (const [key, objects] of this.data) for (const o of objects.values()) yield [key, o];
  }

  /** Stores `obj` (whose metadata.resourceVersion the caller set from nextRv()) and notifies watchers. */
  put(key: string, obj: Obj, type: 'ADDED' | 'MODIFIED'): void {
    let objects = this.data.get(key);
    if (!objects) this.data.set(key, (objects = new Map()));
    const k = objKey(obj.metadata.namespace, obj.metadata.name);
    const old = objects.get(k);
    objects.set(k, obj);
    this.emit({ rv: Number(obj.metadata.resourceVersion), key, type, object: obj, old });
  }

  remove(key: string, obj: Obj): void {
    const objects = this.data.get(key);
    const k = objKey(obj.metadata.namespace, obj.metadata.name);
    const old = objects?.get(k);
    if (!old) return;
    objects!.delete(k);
    const rv = this.nextRv();
    const gone: Obj = { ...old, metadata: { ...old.metadata, resourceVersion: String(rv) } };
    this.emit({ rv, key, type: 'DELETED', object: gone, old });
  }

  /** Drops every object of a type without events (its CRD is gone, so nobody can watch it any more). */
  dropType(key: string): void {
    this.data.delete(key);
  }

  private emit(e: ChangeEvent): void {
    this.history.push(e);
    if (this.history.length > this.maxHistory) {
      const drop = this.history.length - this.maxHistory;
      this.compactedAt = this.history[drop - 1]!.rv;
      this.history = this.history.slice(drop);
    }
    for (const l of this.listeners) l(e);
  }

  /** Events of one type after `rv`, or undefined when history no longer reaches back that far. */
  since(key: string, rv: number): ChangeEvent[] | undefined {
    if (rv < this.compactedAt) return undefined;
    return this.history.filter((e) => e.rv > rv && e.key === key);
  }

  /** Forgets all history up to now, like an etcd compaction: older watches get 410 Gone. */
  compact(): void {
    this.compactedAt = this.revision;
    this.history = [];
  }

  subscribe(l: Listener): () => void {
    this.listeners.add(l);
    return () => this.listeners.delete(l);
  }
}
