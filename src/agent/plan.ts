/**
 * The sync decision (pure): from the wanted references, what is on disk, what is in flight and each
 * reference's retry state, which pulls to start now, which modules to remove, and when to look again.
 * The agent's loop executes the plan; everything that can go wrong with timing is decided here, so it is
 * tested without a clock, a disk or a registry.
 */
import { byCodeUnits } from '../order.js';

export interface WantedReference {
  reference: string;
  /** the manifest digest it pins, or the digest its tag resolved to last; undefined before resolution */
  digest?: string;
}

export interface RetryState {
  /** failed attempts since the last success */
  attempts: number;
  /** no new attempt before this time (ms since the epoch) */
  retryAt?: number;
}

export interface PlanInput {
  now: number;
  /** undefined until the source has delivered its first set: nothing is pulled or removed before */
  wanted: WantedReference[] | undefined;
  /** manifest digests present and verified */
  present: ReadonlySet<string>;
  inFlight: { references: ReadonlySet<string>; digests: ReadonlySet<string> };
  retries: ReadonlyMap<string, RetryState>;
  /** when each present but unwanted digest was first seen unwanted */
  unwantedSince: ReadonlyMap<string, number>;
  gcGraceMs: number;
  /** start jitter: no pull starts before this time */
  notBefore: number;
  /** how many more pulls may start now (the concurrency bound minus those running) */
  slots: number;
}

export interface PullAction {
  reference: string;
  digest?: string;
}

export interface Plan {
  pulls: PullAction[];
  /** digests to delete: unwanted for at least the grace period */
  removals: string[];
  unwantedSince: Map<string, number>;
  wantedDigests: Set<string>;
  /** the earliest time at which a new plan could differ without any event (retry, jitter, GC) */
  wakeAt?: number;
  /**
   * Every wanted reference is present or has been attempted at least once, and nothing is in flight
   * or about to start: the first time this holds, the first sync has finished.
   */
  settled: boolean;
}

export function planSync(input: PlanInput): Plan {
  const plan: Plan = {
    pulls: [],
    removals: [],
    unwantedSince: new Map(),
    wantedDigests: new Set(),
    settled: false,
  };
  if (input.wanted === undefined) {
    plan.unwantedSince = new Map(input.unwantedSince);
    return plan;
  }
  const wake = (at: number) => {
    if (plan.wakeAt === undefined || at < plan.wakeAt) plan.wakeAt = at;
  };
  for (const w of input.wanted) if (w.digest) plan.wantedDigests.add(w.digest);

  // Garbage collection: a grace period from the moment a module is first seen unwanted.
  for (const digest of [...input.present].sort()) {
    if (plan.wantedDigests.has(digest)) continue;
    const since = input.unwantedSince.get(digest) ?? input.now;
    plan.unwantedSince.set(digest, since);
    if (input.now - since >= input.gcGraceMs && !input.inFlight.digests.has(digest))
      plan.removals.push(digest);
    else wake(since + input.gcGraceMs);
  }

  // Pulls: one per digest, references in a stable order, each in its own backoff.
  let slots = input.slots;
  const claimed = new Set<string>(input.inFlight.digests);
  let pending = false;
  for (const w of [...input.wanted].sort((a, b) => byCodeUnits(a.reference, b.reference))) {
    if (w.digest && input.present.has(w.digest)) continue;
    const retry = input.retries.get(w.reference);
    if (!retry || retry.attempts === 0) pending = true;
    if (input.inFlight.references.has(w.reference) || (w.digest && claimed.has(w.digest))) continue;
    if (retry?.retryAt !== undefined && retry.retryAt > input.now) {
      wake(retry.retryAt);
      continue;
    }
    if (input.now < input.notBefore) {
      wake(input.notBefore);
      continue;
    }
    if (slots <= 0) continue; // a pull finishing frees a slot and triggers a new plan
    slots--;
    plan.pulls.push(w.digest ? { reference: w.reference, digest: w.digest } : { reference: w.reference });
    if (w.digest) claimed.add(w.digest);
  }
  plan.settled = !pending && plan.pulls.length === 0 && input.inFlight.references.size === 0;
  return plan;
}

/** Exponential backoff with jitter in [50%, 100%] of the step, so retries of many nodes spread out. */
export function retryDelay(attempts: number, baseMs: number, maxMs: number, random: number): number {
  const step = Math.min(maxMs, baseMs * 2 ** Math.max(0, attempts - 1));
  return Math.round(step * (0.5 + random / 2));
}
