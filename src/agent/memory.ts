/**
 * Keeps the agent's memory near its idle size while modules stream in. Each network read is its own
 * malloc'ed buffer (64 KiB at most) that dies as soon as it is written; V8 frees such a buffer only when
 * a garbage collection finds its small JS wrapper dead, and a cold sync allocates too few JS objects for
 * collections to come often: measured, tens of MB of dead buffers piled up during a sync of 50 x 1 MiB,
 * and glibc kept the heap they had grown (idle RSS ~95 MB instead of ~68 MB). So after every few MiB
 * received the agent asks V8 for a young-generation collection (a scavenge: ~0.2 ms here), which frees
 * the dead buffers while the malloc heap can still reuse their space.
 *
 * `gc` is not exposed by default; the flag is set for the moment it takes to obtain the function from a
 * fresh context, then cleared. Where that fails, nothing is done (memory is then only higher).
 */
import v8 from 'node:v8';
import { runInNewContext } from 'node:vm';

type Collect = (options: { type: 'minor' | 'major'; execution?: 'sync' | 'async' }) => void;

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

function obtainGc(): Collect | undefined {
  try {
    v8.setFlagsFromString('--expose-gc');
    const gc: unknown = runInNewContext('gc');
    return typeof gc === 'function' ? (gc as Collect) : undefined;
  } catch {
    return undefined;
  } finally {
    v8.setFlagsFromString('--no-expose-gc');
  }
}
