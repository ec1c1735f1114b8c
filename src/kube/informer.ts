/**
 * Informers: client-node's ListWatch (list, then watch from the list's resourceVersion, relist on 410)
 * fed by our JSON client, plus what ListWatch leaves to its user: restarting after an error with backoff
 * (ListWatch stops for good on any error other than 410) and knowing when the first list has landed.
 */
import { ListWatch, Watch, type KubernetesObject } from '@kubernetes/client-node';
import type { Logger } from '../log.js';
import type { KubeClient, KubeObject, ListOptions } from './client.js';
import { resourcePath, type ResourceRef } from './resources.js';

export interface InformerHandlers<T extends KubeObject> {
  add?(obj: T): void;
  update?(obj: T): void;
  delete?(obj: T): void;
}

export class Informer<T extends KubeObject> {
  private readonly lw: ListWatch<KubernetesObject>;
  private stopped = false;
  private synced = false;
  private failures = 0;
  private failedSinceStart = false;
  private restartTimer: NodeJS.Timeout | undefined;

  constructor(
    client: KubeClient,
    readonly resource: ResourceRef,
    handlers: InformerHandlers<T>,
    private readonly log: Logger,
    opts: ListOptions & { namespace?: string } = {},
  ) {
    const path = resourcePath(resource, opts.namespace);
    const listFn = async () => {
      const list = await client.list<T>(resource, opts.namespace, opts);
      return list as never;
    };
    this.lw = new ListWatch<KubernetesObject>(
      path,
      new Watch(client.kubeConfig),
      listFn,
      false,
      opts.labelSelector,
      opts.fieldSelector,
    );
    // The cache holds the JSON objects our list and the watch produced; they are T by construction.
    if (handlers.add) this.lw.on('add', handlers.add as (o: KubernetesObject) => void);
    if (handlers.update) this.lw.on('update', handlers.update as (o: KubernetesObject) => void);
    if (handlers.delete) this.lw.on('delete', handlers.delete as (o: KubernetesObject) => void);
    this.lw.on('connect', () => {
      if (this.failures > 0) this.log.info({ resource: resource.plural }, 'watch re-established');
    });
    this.lw.on('error', (err: unknown) => this.restart(err));
  }

  private restart(err: unknown): void {
    if (this.stopped) return;
    this.failedSinceStart = true;
    this.failures++;
    const delay = Math.min(30_000, 250 * 2 ** Math.min(this.failures, 7)) * (0.5 + Math.random() / 2);
    this.log.warn(
      { resource: this.resource.plural, err: (err as Error)?.message, retryInMs: Math.round(delay) },
      'list/watch failed; retrying',
    );
    clearTimeout(this.restartTimer);
    this.restartTimer = setTimeout(() => void this.begin(), delay);
  }

  private async begin(): Promise<void> {
    if (this.stopped) return;
    try {
      this.failedSinceStart = false;
      await this.lw.start();
      // ListWatch reports list failures through the error callback, not by rejecting.
      if (!this.failedSinceStart) {
        this.synced = true;
        this.failures = 0;
      }
    } catch (err) {
      this.restart(err);
    }
  }

  /** Starts listing and watching; resolves once the first list is in the cache (or retries forever). */
  async start(): Promise<void> {
    this.stopped = false;
    await this.begin();
    while (!this.synced && !this.stopped) await new Promise((r) => setTimeout(r, 50));
  }

  hasSynced(): boolean {
    return this.synced;
  }

  list(namespace?: string): T[] {
    return this.lw.list(namespace) as unknown as T[];
  }

  get(name: string, namespace?: string): T | undefined {
    return this.lw.get(name, namespace) as unknown as T | undefined;
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.restartTimer);
    await this.lw.stop();
  }
}
