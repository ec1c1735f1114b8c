/**
 * One run per key at a time: callers asking for a key that is already in flight share its promise, so
 * however many references name one digest, it is downloaded once, and however many cold requests need a
 * token of one scope, it is fetched once. A leaf module (no imports), so any layer may use it.
 */
export class SingleFlight<K, V> {
  private readonly running = new Map<K, Promise<V>>();

  run(key: K, work: () => Promise<V>): Promise<V> {
    const existing = this.running.get(key);
    if (existing) return existing;
    const promise = (async () => {
      try {
        return await work();
      } finally {
        this.running.delete(key);
      }
    })();
    this.running.set(key, promise);
    return promise;
  }

  has(key: K): boolean {
    return this.running.has(key);
  }

  get size(): number {
    return this.running.size;
  }

  /** Settles when every run in flight now has settled (successfully or not). */
  async idle(): Promise<void> {
    await Promise.allSettled([...this.running.values()]);
  }
}
