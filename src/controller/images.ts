/**
 * The images ConfigMap: the union of the pinned references every CR needs on the nodes (its new digest
 * and, during a roll-forward, the one its EnvoyFilter still loads). After a takeover it is not written
 * until every CR that existed has been reconciled once, so a half-known set never drops a module.
 */
import {
  IMAGES_CONFIGMAP_KEY,
  IMAGES_CONFIGMAP_NAME,
  imagesConfigMap,
  renderImagesList,
} from '../mesh/index.js';
import { apply, isAlreadyExists, Resources, type KubeClient, type KubeObject } from '../kube/index.js';
import { IMAGES_KEY, type QueueKey } from './keys.js';
import type { Caches } from './types.js';

export class ImagesList {
  /** Pinned references per CR (`namespace/name`). */
  private readonly contributions = new Map<string, Set<string>>();
  /** CRs present at takeover that have not been reconciled yet. */
  readonly initialPending = new Set<string>();

  constructor(
    private readonly deps: { client: KubeClient; caches: Caches; enqueue: (key: QueueKey) => void },
    private readonly namespace: string,
  ) {}

  set(key: string, refs: Set<string>): void {
    const old = this.contributions.get(key);
    if (old && old.size === refs.size && [...refs].every((r) => old.has(r))) return;
    this.contributions.set(key, refs);
    this.deps.enqueue(IMAGES_KEY);
  }

  forget(key: string): void {
    if (this.contributions.delete(key)) this.deps.enqueue(IMAGES_KEY);
  }

  /** The CR has been reconciled (successfully or not) since the takeover. */
  settle(key: string): void {
    if (this.initialPending.delete(key) && this.initialPending.size === 0) this.deps.enqueue(IMAGES_KEY);
  }

  async reconcile(): Promise<void> {
    if (this.initialPending.size > 0) return; // not every CR has spoken yet; an early write could drop modules
    const refs = new Set<string>();
    for (const c of this.contributions.values()) for (const r of c) refs.add(r);
    const text = renderImagesList(refs);
    const cm = this.deps.caches.images.get(IMAGES_CONFIGMAP_NAME, this.namespace);
    if (cm?.data?.[IMAGES_CONFIGMAP_KEY] === text) return;
    const desired = imagesConfigMap(refs, this.namespace) as unknown as KubeObject;
    if (!cm) {
      try {
        await this.deps.client.create(Resources.configMaps, desired);
        return;
      } catch (err) {
        if (!isAlreadyExists(err)) throw err;
      }
      await apply(this.deps.client, Resources.configMaps, desired); // created meanwhile: converge on it
      return;
    }
    // Only our key, and only over the version we read: other keys of the ConfigMap are left alone.
    await this.deps.client.patch(Resources.configMaps, this.namespace, IMAGES_CONFIGMAP_NAME, {
      metadata: { resourceVersion: cm.metadata.resourceVersion },
      data: { [IMAGES_CONFIGMAP_KEY]: text },
    });
  }
}
