/**
 * A work queue of keys with client-go's semantics: a key is queued at most once however often it is
 * added, never processed by two workers at once (an add during processing requeues it afterwards), and
 * failures are retried per key with exponential backoff that resets when the key succeeds. Keys are
 * values of any type; `id` says when two are the same key (default: the string itself).
 */
export interface QueueOptions<K> {
  baseDelayMs?: number; // first retry delay (default 100 ms)
  maxDelayMs?: number; // cap (default 60 s)
  id?: (key: K) => string;
}

export class WorkQueue<K = string> {
  private readonly queue: K[] = [];
  /** queued or re-added while processing, by id */
  private readonly dirty = new Map<string, K>();
  private readonly processing = new Set<string>();
  private readonly failures = new Map<string, number>();
  private readonly timers = new Map<string, { timer: NodeJS.Timeout; due: number }>();
  private waiters: ((key: K | undefined) => void)[] = [];
  private shuttingDown = false;
  private readonly id: (key: K) => string;

  constructor(private readonly opts: QueueOptions<K> = {}) {
    this.id = opts.id ?? ((k) => String(k));
  }

  get length(): number {
    return this.queue.length;
  }

  add(key: K): void {
    const id = this.id(key);
    if (this.shuttingDown || this.dirty.has(id)) return;
    this.dirty.set(id, key);
    if (this.processing.has(id)) return; // requeued by done()
    const waiter = this.waiters.shift();
    if (waiter) {
      this.dirty.delete(id);
      this.processing.add(id);
      waiter(key);
    } else this.queue.push(key);
  }

  /** Adds the key after a delay; of several pending delayed adds of one key, the earliest wins. */
  addAfter(key: K, ms: number): void {
    if (this.shuttingDown) return;
    if (ms <= 0) return this.add(key);
    const id = this.id(key);
    const due = Date.now() + ms;
    const existing = this.timers.get(id);
    if (existing && existing.due <= due) return;
    if (existing) clearTimeout(existing.timer);
    const timer = setTimeout(() => {
      this.timers.delete(id);
      this.add(key);
    }, ms);
    timer.unref?.();
    this.timers.set(id, { timer, due });
  }

  /** Retries a failed key after its backoff: base * 2^failures, capped. */
  addRateLimited(key: K): number {
    const id = this.id(key);
    const n = this.failures.get(id) ?? 0;
    this.failures.set(id, n + 1);
    const delay = Math.min(this.opts.maxDelayMs ?? 60_000, (this.opts.baseDelayMs ?? 100) * 2 ** n);
    this.addAfter(key, delay);
    return delay;
  }

  /** Clears a key's failure count (after a successful reconcile). */
  forget(key: K): void {
    this.failures.delete(this.id(key));
  }

  retries(key: K): number {
    return this.failures.get(this.id(key)) ?? 0;
  }

  /** The next key to process, or undefined once the queue shuts down. */
  get(): Promise<K | undefined> {
    if (this.shuttingDown) return Promise.resolve(undefined);
    const key = this.queue.shift();
    if (key !== undefined) {
      const id = this.id(key);
      this.dirty.delete(id);
      this.processing.add(id);
      return Promise.resolve(key);
    }
    return new Promise((resolve) => this.waiters.push(resolve));
  }

  done(key: K): void {
    const id = this.id(key);
    this.processing.delete(id);
    const again = this.dirty.get(id);
    if (again !== undefined) {
      this.dirty.delete(id);
      this.add(again);
    }
  }

  shutDown(): void {
    this.shuttingDown = true;
    for (const t of this.timers.values()) clearTimeout(t.timer);
    this.timers.clear();
    for (const w of this.waiters) w(undefined);
    this.waiters = [];
  }
}
