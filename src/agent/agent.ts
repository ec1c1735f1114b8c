/**
 * The agent's loop: keeps the module store equal to the wanted set. Every event (a new wanted set, new
 * credentials, a pull finishing, a timer) triggers a plan (plan.ts, pure) that this class executes:
 * pulls bounded in number, one per digest, each reference in its own backoff; removals after the grace
 * period. What it holds is published to the reporter whenever it changes.
 */
import type { ModuleStore } from '../cache/index.js';
import { describeError, isMeshwasmError, MeshwasmError } from '../errors.js';
import type { Logger } from '../log.js';
import { parseAnyReference } from '../oci/index.js';
import type { AgentMetrics } from './metrics.js';
import { byCodeUnits } from '../order.js';
import { planSync, retryDelay, type PullAction, type RetryState, type WantedReference } from './plan.js';
import type { Credentials, Puller } from './puller.js';
import type { Reporter } from './reporter.js';

export interface AgentSettings {
  /** modules downloaded at once (a pull only making its file durable does not count) */
  concurrency: number;
  /** how long a module no reference names any more stays on disk */
  gcGraceMs: number;
  /** first retry delay of a failed reference, doubled per failure */
  retryBaseMs: number;
  retryMaxMs: number;
  /** the first pull waits a random time up to this, so a fleet of nodes does not start at once */
  jitterMs: number;
  /** how often files are checked (stat) against the index, and tags resolved again; 0 disables */
  resyncMs: number;
}

export const DEFAULT_SETTINGS: AgentSettings = {
  concurrency: 4,
  gcGraceMs: 10 * 60_000,
  retryBaseMs: 1_000,
  retryMaxMs: 5 * 60_000,
  jitterMs: 10_000,
  resyncMs: 5 * 60_000,
};

export interface AgentDeps {
  store: ModuleStore;
  puller: Puller;
  reporter: Reporter;
  metrics: AgentMetrics;
  log: Logger;
  /** told of the bytes received, to free network buffers as they stream in (memory.ts) */
  reclaimer?: { received(bytes: number): void };
  /** told after every pull (a full collection follows a sync: ../memory.ts) */
  idle?: { worked(): void };
  settings?: Partial<AgentSettings>;
  now?: () => number;
  random?: () => number;
}

interface Failure extends RetryState {
  message: string;
  /** the message of the last Event, so a reference failing the same way does not flood the pod */
  reported?: string;
}

export interface ReferenceStatus {
  reference: string;
  digest?: string;
  state: 'present' | 'pulling' | 'failing' | 'pending' | 'invalid';
  error?: string;
  attempts?: number;
}

export class Agent {
  readonly settings: AgentSettings;
  private readonly d: AgentDeps;
  private readonly now: () => number;
  private readonly random: () => number;
  private wanted: WantedReference[] | undefined;
  private readonly invalid = new Map<string, string>();
  private readonly failures = new Map<string, Failure>();
  private readonly resolved = new Map<string, string>();
  private unwantedSince = new Map<string, number>();
  private readonly running = new Map<string, { abort: AbortController; done: Promise<void> }>();
  private readonly runningDigests = new Map<string, number>();
  /** pulls still receiving bytes; the others are only making their file durable (fsync, rename, record) */
  private transferring = 0;
  private readonly removing = new Set<Promise<void>>();
  private notBefore = 0;
  private scheduled = false;
  private timer: NodeJS.Timeout | undefined;
  private resyncTimer: NodeJS.Timeout | undefined;
  private stopped = false;
  private ready = false;
  private readonly readyWaiters: (() => void)[] = [];
  private published: string | undefined;

  constructor(deps: AgentDeps) {
    this.d = deps;
    this.settings = { ...DEFAULT_SETTINGS, ...deps.settings };
    this.now = deps.now ?? Date.now;
    this.random = deps.random ?? Math.random;
  }

  /** Starts the clock for the jitter and publishes what the store holds; pulls wait for a wanted set. */
  start(): void {
    this.notBefore = this.now() + Math.floor(this.random() * this.settings.jitterMs);
    this.publish();
    this.kick();
    if (this.settings.resyncMs > 0) {
      this.resyncTimer = setInterval(() => void this.resync(), this.settings.resyncMs);
      this.resyncTimer.unref();
    }
  }

  /**
   * The periodic safety net: files deleted or changed behind the agent's back are pulled again, and
   * tags are resolved again (a re-pushed tag rolls forward; the old module is collected after the grace).
   */
  async resync(): Promise<void> {
    if (this.stopped) return;
    const dropped = await this.d.store.recheck();
    for (const { digest, reason } of dropped) {
      this.d.log.warn({ digest, reason }, 'module changed on disk; pulling it again');
      this.d.reporter.event({ type: 'Warning', reason: 'ModuleCorrupt', message: `${digest}: ${reason}` });
    }
    for (const reference of [...this.resolved.keys()])
      if (!this.running.has(reference)) this.resolved.delete(reference);
    this.publish();
    this.kick();
  }

  /** The wanted references (from the ConfigMap or the images file); invalid ones are reported and skipped. */
  setWanted(references: string[]): void {
    const next: WantedReference[] = [];
    const seen = new Set<string>();
    for (const reference of references) {
      if (seen.has(reference)) continue;
      seen.add(reference);
      try {
        const parsed = parseAnyReference(reference);
        if (parsed.digest && !parsed.digest.startsWith('sha256:'))
          throw new MeshwasmError('INVALID_REFERENCE', `${reference}: only sha256 digests name module files`);
        this.invalid.delete(reference);
        // A tag is resolved again whenever the set is delivered again.
        if (!parsed.digest) this.resolved.delete(reference);
        next.push(parsed.digest ? { reference, digest: parsed.digest } : { reference });
      } catch (err) {
        const message = describeError(err);
        if (this.invalid.get(reference) !== message) {
          this.invalid.set(reference, message);
          this.d.log.error({ reference, err: message }, 'invalid reference in the wanted set; skipped');
          this.d.reporter.event({ type: 'Warning', reason: 'InvalidReference', message });
        }
      }
    }
    for (const reference of [...this.invalid.keys()])
      if (!seen.has(reference)) this.invalid.delete(reference);
    for (const reference of [...this.failures.keys()])
      if (!seen.has(reference)) this.failures.delete(reference);
    for (const reference of [...this.resolved.keys()])
      if (!seen.has(reference)) this.resolved.delete(reference);
    const first = this.wanted === undefined;
    this.wanted = next;
    this.d.metrics.modulesWanted.set(next.length);
    this.d.log.info({ references: next.length, invalid: this.invalid.size, first }, 'wanted set updated');
    this.kick();
  }

  /** New registry credentials: used by the next pull, and failing references are retried now. */
  setCredentials(credentials: Credentials): void {
    this.d.puller.setCredentials(credentials);
    for (const failure of this.failures.values()) failure.retryAt = undefined;
    this.d.log.info('registry credentials changed; failing references will be retried');
    this.kick();
  }

  isReady(): boolean {
    return this.ready;
  }

  /** Resolves once the first sync has finished (every wanted module present or attempted). */
  whenReady(): Promise<void> {
    if (this.ready) return Promise.resolve();
    return new Promise((resolve) => this.readyWaiters.push(resolve));
  }

  status(): ReferenceStatus[] {
    const out: ReferenceStatus[] = [];
    for (const [reference, error] of this.invalid) out.push({ reference, state: 'invalid', error });
    for (const w of this.wanted ?? []) {
      const digest = w.digest ?? this.resolved.get(w.reference);
      const failure = this.failures.get(w.reference);
      const state =
        digest && this.d.store.has(digest)
          ? 'present'
          : this.running.has(w.reference)
            ? 'pulling'
            : failure
              ? 'failing'
              : 'pending';
      out.push({
        reference: w.reference,
        ...(digest ? { digest } : {}),
        state,
        ...(failure && state !== 'present' ? { error: failure.message, attempts: failure.attempts } : {}),
      });
    }
    return out.sort((a, b) => byCodeUnits(a.reference, b.reference));
  }

  /** Abandons in-flight pulls (their temporary files are deleted) and waits for them to settle. */
  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    if (this.resyncTimer) clearInterval(this.resyncTimer);
    for (const { abort } of this.running.values()) abort.abort();
    await Promise.allSettled([...this.running.values()].map((r) => r.done));
    await Promise.allSettled([...this.removing]);
    await this.d.store.idle();
  }

  private kick(): void {
    if (this.scheduled || this.stopped) return;
    this.scheduled = true;
    setImmediate(() => {
      this.scheduled = false;
      if (!this.stopped) this.tick();
    });
  }

  private tick(): void {
    const now = this.now();
    const wanted = this.wanted?.map((w) => {
      const digest = w.digest ?? this.resolved.get(w.reference);
      return digest ? { reference: w.reference, digest } : { reference: w.reference };
    });
    const plan = planSync({
      now,
      wanted,
      present: new Set(this.d.store.digests()),
      inFlight: { references: new Set(this.running.keys()), digests: new Set(this.runningDigests.keys()) },
      retries: this.failures,
      unwantedSince: this.unwantedSince,
      gcGraceMs: this.settings.gcGraceMs,
      notBefore: this.notBefore,
      // --concurrency bounds the downloads. A pull whose bytes are all in stops counting while its file is
      // made durable, so the disk's fsync overlaps the next download; pulls in all stay under twice it.
      slots: Math.min(
        this.settings.concurrency - this.transferring,
        2 * this.settings.concurrency - this.running.size,
      ),
    });
    this.unwantedSince = plan.unwantedSince;
    for (const digest of plan.removals) this.remove(digest);
    for (const pull of plan.pulls) this.pull(pull);
    if (plan.settled) {
      this.d.metrics.lastSync.set(now / 1000);
      if (!this.ready) {
        this.ready = true;
        this.d.metrics.ready.set(1);
        this.d.log.info({ present: this.d.store.digests().length }, 'first sync finished; ready');
        for (const resolve of this.readyWaiters.splice(0)) resolve();
      }
    }
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    if (plan.wakeAt !== undefined) {
      this.timer = setTimeout(() => this.kick(), Math.max(0, plan.wakeAt - now));
      this.timer.unref();
    }
  }

  private remove(digest: string): void {
    const removal = this.d.store
      .remove(digest)
      .then(() => {
        this.unwantedSince.delete(digest);
        this.d.metrics.removed.inc();
        this.d.log.info({ digest }, 'module removed: no wanted reference names it any more');
        this.d.reporter.event({
          type: 'Normal',
          reason: 'ModuleRemoved',
          message: `removed ${digest}: unwanted for longer than the grace period`,
        });
      })
      .catch((err: unknown) => {
        this.d.log.error({ digest, err: describeError(err) }, 'cannot remove module');
      })
      .finally(() => {
        this.removing.delete(removal);
        this.publish();
      });
    this.removing.add(removal);
    this.publish();
  }

  private trackDigest(digest: string, delta: 1 | -1): void {
    const n = (this.runningDigests.get(digest) ?? 0) + delta;
    if (n > 0) this.runningDigests.set(digest, n);
    else this.runningDigests.delete(digest);
  }

  private pull(action: PullAction): void {
    const abort = new AbortController();
    const entry = { abort, done: Promise.resolve() };
    this.running.set(action.reference, entry);
    this.transferring++;
    let received = false;
    const onReceived = () => {
      if (received) return;
      received = true;
      this.transferring--;
      this.kick();
    };
    entry.done = this.runPull(action, abort.signal, onReceived).finally(() => {
      onReceived();
      this.d.idle?.worked();
      this.running.delete(action.reference);
      this.publish();
      this.kick();
    });
  }

  private async runPull(action: PullAction, signal: AbortSignal, onReceived: () => void): Promise<void> {
    const { reference } = action;
    const started = this.now();
    let digest = action.digest;
    if (digest) this.trackDigest(digest, 1);
    try {
      if (!digest) {
        const resolved = await this.d.puller.resolve(reference);
        if (!resolved.startsWith('sha256:'))
          throw new MeshwasmError(
            'UNSUPPORTED_FORMAT',
            `${reference} resolved to ${resolved}; only sha256 digests name module files`,
          );
        digest = resolved;
        this.resolved.set(reference, digest);
        this.trackDigest(digest, 1);
      }
      const manifestDigest = digest;
      const { module, fetched } = await this.d.store.install(
        manifestDigest,
        (file) =>
          this.d.puller.fetch(reference, manifestDigest, file, {
            signal,
            onReceived,
            onBytes: (bytes) => {
              this.d.metrics.bytesPulled.inc(bytes);
              this.d.reclaimer?.received(bytes);
            },
          }),
        { reference },
      );
      this.failures.delete(reference);
      if (fetched) {
        const seconds = (this.now() - started) / 1000;
        this.d.metrics.pulls.inc({ result: 'success' });
        this.d.metrics.pullDuration.observe({ result: 'success' }, seconds);
        this.d.log.info(
          { reference, digest: manifestDigest, size: module.size, format: module.format, seconds },
          'module pulled',
        );
        this.d.reporter.event({
          type: 'Normal',
          reason: 'ModulePulled',
          message: `pulled ${reference} (${module.size} bytes, ${module.format ?? 'unknown'} format) into ${module.path}`,
        });
      }
    } catch (err) {
      if (this.stopped && signal.aborted) {
        this.d.log.info({ reference }, 'pull abandoned at shutdown');
        return;
      }
      this.fail(reference, err, started);
    } finally {
      if (digest) this.trackDigest(digest, -1);
    }
  }

  private fail(reference: string, err: unknown, started: number): void {
    const previous = this.failures.get(reference);
    const attempts = (previous?.attempts ?? 0) + 1;
    const delay = retryDelay(attempts, this.settings.retryBaseMs, this.settings.retryMaxMs, this.random());
    const message = describeError(err);
    const failure: Failure = {
      attempts,
      retryAt: this.now() + delay,
      message,
      reported: previous?.reported,
    };
    this.failures.set(reference, failure);
    this.d.metrics.pulls.inc({ result: 'failure' });
    this.d.metrics.pullDuration.observe({ result: 'failure' }, (this.now() - started) / 1000);
    this.d.log.warn(
      {
        reference,
        code: isMeshwasmError(err) ? err.code : undefined,
        err: message,
        attempts,
        retryInMs: delay,
      },
      'module pull failed',
    );
    const unsigned = isMeshwasmError(err, 'SIGNATURE');
    if (unsigned) this.d.metrics.signatureFailures.inc();
    if (failure.reported !== message) {
      failure.reported = message;
      this.d.reporter.event({
        type: 'Warning',
        reason: unsigned ? 'SignatureVerificationFailed' : 'ModulePullFailed',
        message: `${reference}: ${message}`,
      });
    }
  }

  private publish(): void {
    const digests = this.d.store.digests();
    this.d.metrics.modulesPresent.set(digests.length);
    const key = digests.join(',');
    if (key === this.published) return;
    this.published = key;
    this.d.reporter.modules(digests);
  }
}
