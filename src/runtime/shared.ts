/**
 * Shared key-value data (with compare-and-swap) and shared queues. In Envoy these are shared by every
 * VM of one vm_id on the proxy; here one SharedState object plays that role and the sidecar passes the
 * same instance to every filter it loads. No I/O.
 */
import { Status } from './abi.js';

interface Entry {
  value: Uint8Array;
  cas: number;
}

interface Queue {
  items: Uint8Array[];
  /** Called when an item arrives: the VM that registered the queue gets proxy_on_queue_ready. */
  onReady: ((queueId: number) => void) | undefined;
}

export class SharedState {
  private readonly data = new Map<string, Entry>();
  private readonly queues = new Map<number, Queue>();
  private readonly queueIds = new Map<string, number>();
  private nextCas = 1;
  private nextQueue = 1;

  getData(vmId: string, key: string): Entry | undefined {
    return this.data.get(`${vmId}\0${key}`);
  }

  /** cas 0 writes unconditionally; any other value must match the entry's current one. */
  setData(vmId: string, key: string, value: Uint8Array, cas: number): number {
    const k = `${vmId}\0${key}`;
    const current = this.data.get(k);
    if (cas !== 0 && (current === undefined || current.cas !== cas)) return Status.CAS_MISMATCH;
    this.data.set(k, { value, cas: this.nextCas++ });
    return Status.OK;
  }

  registerQueue(vmId: string, name: string, onReady: (queueId: number) => void): number {
    const k = `${vmId}\0${name}`;
    let id = this.queueIds.get(k);
    if (id === undefined) {
      id = this.nextQueue++;
      this.queueIds.set(k, id);
      this.queues.set(id, { items: [], onReady });
    } else {
      this.queues.get(id)!.onReady = onReady;
    }
    return id;
  }

  resolveQueue(vmId: string, name: string): number | undefined {
    return this.queueIds.get(`${vmId}\0${name}`);
  }

  enqueue(queueId: number, value: Uint8Array): number {
    const q = this.queues.get(queueId);
    if (!q) return Status.NOT_FOUND;
    q.items.push(value);
    // Delivered asynchronously, like Envoy posting to the owning VM's dispatcher.
    const notify = q.onReady;
    if (notify) queueMicrotask(() => notify(queueId));
    return Status.OK;
  }

  dequeue(queueId: number): { status: number; value?: Uint8Array } {
    const q = this.queues.get(queueId);
    if (!q) return { status: Status.NOT_FOUND };
    const value = q.items.shift();
    return value === undefined ? { status: Status.EMPTY } : { status: Status.OK, value };
  }

  /** Stops notifying a VM that is going away. */
  forgetOwner(onReady: (queueId: number) => void): void {
    for (const q of this.queues.values()) if (q.onReady === onReady) q.onReady = undefined;
  }
}
