/**
 * Memory housekeeping for the long-running processes (agent, controller), through V8's own collector.
 *
 * `gc` is not exposed by default; obtainGc() sets --expose-gc for the moment it takes to read the
 * function from a fresh context, then clears the flag again. Where that fails, callers do nothing.
 *
 * The options object is translated, not passed on: the V8 of Node 20 (11.3) reads any argument as
 * "young generation only", so `gc({ type: 'major' })` ran a scavenge there (seen with --trace-gc) and
 * the idle collection below freed nothing the scavenges had promoted. A full collection is `gc()` with
 * no argument on every V8; a minor one `{ type: 'minor' }` (truthy for the old V8, typed for newer).
 */
import v8 from 'node:v8';
import { runInNewContext } from 'node:vm';

export type Collect = (options: { type: 'minor' | 'major' }) => void;

let obtained: Collect | null | undefined;

export function obtainGc(): Collect | undefined {
  if (obtained === undefined) {
    try {
      v8.setFlagsFromString('--expose-gc');
      const gc: unknown = runInNewContext('gc');
      obtained = typeof gc === 'function' ? translated(gc as (options?: object) => void) : null;
    } catch {
      obtained = null;
    } finally {
      v8.setFlagsFromString('--no-expose-gc');
    }
  }
  return obtained ?? undefined;
}

function translated(gc: (options?: object) => void): Collect {
  return ({ type }) => (type === 'major' ? gc() : gc({ type: 'minor' }));
}

/**
 * Turns V8's optimizing compilers (TurboFan, and Maglev where a V8 has it) off for the rest of the
 * process; the interpreter and the Sparkplug baseline compiler still run everything. For a process that
 * does a burst of I/O-bound work and then idles (the node agent), optimizing earns nothing and costs
 * memory for good: the compiler's own code is paged in from the node binary (~3.4 MB of resident text),
 * and its background threads leave a malloc arena each (~1 MB apiece, measured with malloc_stats) that
 * glibc never trims. Measured on a cold sync of 50 x 1 MiB and its idle RSS: see docs/operations.md.
 * Safe to call at any time (code already optimized stays so).
 */
export function withoutOptimizingCompilers(): void {
  for (const flag of ['--no-turbofan', '--no-maglev']) {
    try {
      v8.setFlagsFromString(flag);
    } catch {
      // An unknown flag on some other V8: nothing to turn off.
    }
  }
}

/** How long a process must have been quiet: V8 judges its allocation rate over the last 5 s. */
const QUIET_MS = 6000;

/** New space at or near its floor (1 MB semi-spaces) after a collection that shrank it. */
const SHRUNK_NEW_SPACE_BYTES = 4 << 20;
/** Collections tried per burst before giving up on shrinking the young generation. */
const MAX_TRIES = 5;

function newSpaceBytes(): number {
  return v8.getHeapSpaceStatistics().find((s) => s.space_name === 'new_space')?.space_size ?? 0;
}

/**
 * One full collection once a burst of work is over. After a burst (a cold sync, 1,000 CRs reconciled) V8
 * keeps its young generation at the size the burst grew it to (up to 2 x 16 MB, nearly empty), and
 * shrinks it only in a full collection that finds the allocation rate low. V8's memory reducer gets
 * there by itself eventually, but only once nothing at all runs; a lease renewal or a watch is enough
 * to postpone it indefinitely (measured: the controller idled at 114 MB for 30 s and more). So the
 * process asks for that collection itself, QUIET_MS after the last work: ~10-40 ms once per burst.
 * Work that does not report itself (watch events the caches take in after the last reconcile) can make
 * that collection come too soon to shrink anything (the controller then idled at 118 MB against 86 MB
 * in the same bench): while the young generation is still large, it is tried again, QUIET_MS later.
 */
export class IdleCollector {
  private readonly collect: Collect | undefined;
  private readonly quietMs: number;
  private readonly youngBytes: () => number;
  private timer: NodeJS.Timeout | undefined;
  private tries = 0;

  constructor(collect: Collect | undefined = obtainGc(), quietMs = QUIET_MS, youngBytes = newSpaceBytes) {
    this.collect = collect;
    this.quietMs = quietMs;
    this.youngBytes = youngBytes;
  }

  /** Work happened (or is done): the collection runs quietMs after the last call, unless stopped. */
  worked(): void {
    if (!this.collect) return;
    this.tries = 0;
    if (this.timer) {
      this.timer.refresh();
      return;
    }
    this.arm();
  }

  private arm(): void {
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.collect!({ type: 'major' });
      if (this.youngBytes() > SHRUNK_NEW_SPACE_BYTES && ++this.tries < MAX_TRIES) this.arm();
    }, this.quietMs);
    this.timer.unref();
  }

  stop(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
  }
}
