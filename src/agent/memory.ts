/**
 * Keeps the agent's memory near its idle size while modules stream in. Each network read is its own
 * malloc'ed buffer (64 KiB at most) that dies as soon as it is written; V8 frees such a buffer only when
 * a garbage collection finds its small JS wrapper dead, and a cold sync allocates too few JS objects for
 * collections to come often: measured, tens of MB of dead buffers piled up during a sync of 50 x 1 MiB,
 * and glibc kept the heap they had grown (idle RSS ~95 MB instead of ~68 MB). So after every few MiB
 * received the agent asks V8 for a young-generation collection (a scavenge: ~0.2 ms here), which frees
 * the dead buffers while the malloc heap can still reuse their space.
 *
 * `gc` comes from ../memory.ts; where it cannot be obtained nothing is done (memory is then only higher).
 */
import { obtainGc, type Collect } from '../memory.js';
/** Bytes received between two scavenges: a fraction of a module, more than the data of one read. */
const STEP_BYTES = 2 * 1024 * 1024;

export class BufferReclaimer {
  private readonly collect: Collect | undefined;
  private since = 0;

  constructor(collect: Collect | undefined = obtainGc()) {
    this.collect = collect;
  }

  /** Told of bytes received from a registry. */
  received(bytes: number): void {
    if (!this.collect) return;
    this.since += bytes;
    if (this.since < STEP_BYTES) return;
    this.since = 0;
    this.collect({ type: 'minor' });
  }
}
