/**
 * Informers: list, then watch from the list's resourceVersion, as client-go's reflector does. A watch
 * that ends (server timeout, dropped connection) resumes from the last resourceVersion seen; a 410 Gone
 * (history compacted) relists, and the relist is diffed against the cache so the handlers see the adds,
 * updates and deletes they missed. Errors restart the cycle with backoff; `start()` resolves once the
 * first list is in the cache.
 *
 * Written here on our JSON client rather than taken from @kubernetes/client-node (ListWatch + Watch):
 * loading client-node cost the agent and the controller ~0.5 s and ~60 MB (bench/cli.ts).
 */
import type { Logger } from '../log.js';
import { isMeshwasmError } from '../errors.js';
import { KubeApiError, type KubeClient, type KubeObject, type ListOptions } from './client.js';
import { resourcePath, type ResourceRef } from './resources.js';

export interface InformerHandlers<T extends KubeObject> {
  add?(obj: T): void;
  update?(obj: T): void;
  delete?(obj: T): void;
}

interface WatchEvent {
  type: 'ADDED' | 'MODIFIED' | 'DELETED' | 'BOOKMARK' | 'ERROR';
  object: KubeObject & { code?: number; reason?: string; message?: string };
}

/** Server-side watch timeouts are spread like client-go's (5-10 min), so watches do not renew in step. */
const watchTimeoutSeconds = () => 300 + Math.floor(Math.random() * 300);

const keyOf = (o: KubeObject) => `${o.metadata.namespace ?? ''}/${o.metadata.name}`;

/** Thrown inside the cycle when the server says the resourceVersion is too old: relist. */
class Expired extends Error {}

export class Informer<T extends KubeObject> {
  private readonly cache = new Map<string, T>();
  private readonly path: string;
  private resourceVersion: string | undefined;
  private stopped = true;
  private synced = false;
  private failures = 0;
  private restartTimer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private abortCurrent: (() => void) | undefined;
  private firstList: { promise: Promise<void>; resolve: () => void } | undefined;

  constructor(
    private readonly client: KubeClient,
    readonly resource: ResourceRef,
    private readonly handlers: InformerHandlers<T>,
    private readonly log: Logger,
    private readonly opts: ListOptions & {
      namespace?: string;
      /** what the cache (and the handlers) keep of each object: drop fields nobody reads */
      transform?: (obj: T) => T;
    } = {},
  ) {
    this.path = resourcePath(resource, opts.namespace);
  }

  /** Starts listing and watching; resolves once the first list is in the cache (or retries forever). */
  async start(): Promise<void> {
    if (!this.stopped) return this.firstList?.promise;
    this.stopped = false;
    let resolve!: () => void;
    const promise = new Promise<void>((r) => (resolve = r));
    this.firstList = { promise, resolve };
    this.running = this.cycle();
    await promise;
  }

  hasSynced(): boolean {
    return this.synced;
  }

  list(namespace?: string): T[] {
    const all = [...this.cache.values()];
    return namespace === undefined ? all : all.filter((o) => o.metadata.namespace === namespace);
  }

  get(name: string, namespace?: string): T | undefined {
    return this.cache.get(`${namespace ?? ''}/${name}`);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.restartTimer);
    this.abortCurrent?.();
    this.firstList?.resolve();
    await this.running;
  }

  /** List, then watch until stopped; any failure is logged and the cycle restarts after a backoff. */
  private async cycle(): Promise<void> {
    while (!this.stopped) {
      try {
        if (this.resourceVersion === undefined) await this.relist();
        await this.watch();
      } catch (err) {
        if (this.stopped) break;
        if (err instanceof Expired) {
          this.resourceVersion = undefined;
          continue;
        }
        this.failures++;
        this.resourceVersion = undefined;
        const delay = Math.min(30_000, 250 * 2 ** Math.min(this.failures, 7)) * (0.5 + Math.random() / 2);
        this.log.warn(
          {
            resource: this.resource.plural,
            err: isMeshwasmError(err) || err instanceof Error ? err.message : String(err),
            retryInMs: Math.round(delay),
          },
          'list/watch failed; retrying',
        );
        await new Promise<void>((resolve) => {
          this.restartTimer = setTimeout(resolve, delay);
          this.abortCurrent = () => {
            clearTimeout(this.restartTimer);
            resolve();
          };
        });
      }
    }
  }

  /** Lists everything and reconciles the cache with it, telling the handlers what changed. */
  private async relist(): Promise<void> {
    const list = await this.client.list<T>(this.resource, this.opts.namespace, this.opts);
    const seen = new Set<string>();
    const transform = this.opts.transform;
    for (const item of list.items) {
      const obj = transform ? transform(item) : item;
      const key = keyOf(obj);
      seen.add(key);
      const old = this.cache.get(key);
      this.cache.set(key, obj);
      if (!old) this.handlers.add?.(obj);
      else if (old.metadata.resourceVersion !== obj.metadata.resourceVersion) this.handlers.update?.(obj);
    }
    for (const [key, obj] of this.cache) {
      if (seen.has(key)) continue;
      this.cache.delete(key);
      this.handlers.delete?.(obj);
    }
    this.resourceVersion = list.metadata.resourceVersion;
    if (!this.synced) {
      this.synced = true;
      this.firstList?.resolve();
    }
  }

  /** One watch connection, until the server ends it (resolves) or something fails (throws). */
  private async watch(): Promise<void> {
    const q = new URLSearchParams({
      watch: '1',
      allowWatchBookmarks: 'true',
      timeoutSeconds: String(watchTimeoutSeconds()),
    });
    if (this.resourceVersion) q.set('resourceVersion', this.resourceVersion);
    if (this.opts.labelSelector) q.set('labelSelector', this.opts.labelSelector);
    if (this.opts.fieldSelector) q.set('fieldSelector', this.opts.fieldSelector);
    let res;
    try {
      // Silence longer than the server's own timeout means a dead connection.
      res = await this.client.stream(`${this.path}?${q.toString()}`, 11 * 60_000);
    } catch (err) {
      if (err instanceof KubeApiError && err.status === 410) throw new Expired();
      throw err;
    }
    if (this.stopped) {
      res.destroy();
      return;
    }
    this.abortCurrent = () => res.destroy();
    if (this.failures > 0) this.log.info({ resource: this.resource.plural }, 'watch re-established');
    this.failures = 0;
    // Newline-delimited JSON events. The body ending, closing or failing all end this watch: a clean
    // end or a cut connection resumes from the last version seen, an event that cannot be applied fails.
    await new Promise<void>((resolve, reject) => {
      let pending = '';
      let settled = false;
      const finish = (err?: unknown) => {
        if (settled) return;
        settled = true;
        this.abortCurrent = undefined;
        res.destroy();
        if (err && !this.stopped) reject(err);
        else resolve();
      };
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => {
        pending += chunk;
        let nl: number;
        while (!settled && (nl = pending.indexOf('\n')) >= 0) {
          const line = pending.slice(0, nl).trim();
          pending = pending.slice(nl + 1);
          if (!line) continue;
          try {
            this.apply(JSON.parse(line) as WatchEvent);
          } catch (err) {
            finish(err);
          }
        }
      });
      res.on('end', () => finish());
      res.on('close', () => finish());
      res.on('error', () => finish());
    });
  }

  private apply(event: WatchEvent): void {
    const obj = event.object;
    if (event.type === 'ERROR') {
      if (obj.code === 410) throw new Expired();
      throw new Error(`watch error: ${obj.reason ?? ''} ${obj.message ?? ''}`.trim());
    }
    if (obj.metadata?.resourceVersion) this.resourceVersion = obj.metadata.resourceVersion;
    if (event.type === 'BOOKMARK') return;
    const key = keyOf(obj);
    const typed = this.opts.transform ? this.opts.transform(obj as T) : (obj as T);
    if (event.type === 'DELETED') {
      this.cache.delete(key);
      this.handlers.delete?.(typed);
    } else {
      const had = this.cache.has(key);
      this.cache.set(key, typed);
      if (had) this.handlers.update?.(typed);
      else this.handlers.add?.(typed);
    }
  }
}
