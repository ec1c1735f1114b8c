/**
 * The filters of one stream: a stream context per filter, each phase run through them (request phases
 * in chain order, response phases in reverse, as Envoy's decoder and encoder filters), each filter's
 * failure policy, and what each filter decided (for the request log). It knows nothing about sockets:
 * Exchange moves the HTTP messages and asks this what to forward.
 */
import type { Logger } from 'pino';
import { describeError } from '../errors.js';
import type { Direction, HeaderPairs, HttpStream, LocalResponse, StreamInfo } from '../runtime/index.js';
import type { LoadedFilter } from './chain.js';

export type Outcome =
  | { kind: 'continue' }
  | { kind: 'local'; filter: string; response: LocalResponse }
  | { kind: 'reset'; filter: string };
export const CONTINUE: Outcome = { kind: 'continue' };

export interface BodyResult {
  outcome: Outcome;
  /** The bytes to forward now (empty while a filter buffers). */
  data: Uint8Array;
}
type BodyStep = BodyResult | { waitAt: number };

const EMPTY = new Uint8Array(0);

/** Thrown when a fail-closed filter breaks; the exchange answers 503 with this message. */
export class FailClosed extends Error {
  constructor(
    readonly filter: string,
    reason: string,
  ) {
    super(`filter "${filter}" failed (fail-closed): ${reason}`);
  }
}

interface Active {
  filter: LoadedFilter;
  stream: HttpStream;
}

export interface ChainSettings {
  filters: readonly LoadedFilter[];
  logger: Logger;
  /** Most body bytes one filter may hold back while it pauses (Envoy's buffer limit). */
  maxBufferedBytes: number;
}

export class StreamChain {
  /** Filters still running on this stream (policy() replaces the array, never mutates it). */
  private active: Active[] = [];
  readonly decisions: Record<string, string> = {};

  constructor(
    private readonly settings: ChainSettings,
    private readonly requestId: string,
  ) {}

  /**
   * One stream context per filter; a filter that failed to load or cannot start gets its policy.
   * Synchronous while every VM is healthy (the usual case); a promise only when a VM must be (re)started.
   */
  open(info: StreamInfo): void | Promise<void> {
    const active: Active[] = [];
    const filters = this.settings.filters;
    for (let i = 0; i < filters.length; i++) {
      const filter = filters[i]!;
      try {
        if (!filter.plugin) throw filter.error ?? new Error('not loaded');
        const stream = filter.plugin.newStreamSync(info);
        if (!stream) return this.openFrom(i, info, active);
        active.push({ filter, stream });
      } catch (err) {
        this.active = active; // policy() copies it without this filter
        this.policy(filter, err);
      }
    }
    this.active = active;
  }

  /** The slow path of open(), from filter `start` on: a VM must be started first. */
  private async openFrom(start: number, info: StreamInfo, opened: Active[]): Promise<void> {
    this.active = opened;
    const filters = this.settings.filters;
    for (let i = start; i < filters.length; i++) {
      const filter = filters[i]!;
      try {
        if (!filter.plugin) throw filter.error ?? new Error('not loaded');
        const stream = filter.plugin.newStreamSync(info) ?? (await filter.plugin.newStream(info));
        this.active = [...this.active, { filter, stream }];
      } catch (err) {
        this.policy(filter, err);
      }
    }
  }

  get filterNames(): string[] {
    return this.active.map((a) => a.filter.name);
  }

  /** Some filter reads this direction's body (otherwise the body can be piped past the chain). */
  wantsBody(direction: Direction): boolean {
    return this.active.some((a) => a.stream.wantsBody(direction));
  }

  /**
   * Runs a header phase through the chain. Synchronous unless a filter pauses: only then is the rest of
   * the phase a promise, so the common path costs no promise and no microtask turn.
   */
  headers(direction: Direction, pairs: HeaderPairs, eos: boolean): Outcome | Promise<Outcome> {
    const list = this.ordered(direction);
    for (let i = 0; i < list.length; i++) {
      const a = list[i]!;
      if (!this.active.includes(a)) continue;
      try {
        const d: string =
          direction === 'request'
            ? a.stream.requestHeaders(pairs, eos)
            : a.stream.responseHeaders(pairs, eos);
        if (d === 'pause') return this.headersAfterPause(direction, pairs, eos, list, i);
        const outcome = this.outcomeOf(a, d);
        if (outcome.kind !== 'continue') return outcome;
        this.note(a, 'continue');
      } catch (err) {
        this.policy(a.filter, err);
      }
    }
    return CONTINUE;
  }

  /** The rest of a header phase once filter `at` of `list` paused: wait for it, then go on. */
  private async headersAfterPause(
    direction: Direction,
    pairs: HeaderPairs,
    eos: boolean,
    list: Active[],
    at: number,
  ): Promise<Outcome> {
    for (let i = at; i < list.length; i++) {
      const a = list[i]!;
      if (!this.active.includes(a)) continue;
      try {
        let d: string =
          i === at
            ? 'pause'
            : direction === 'request'
              ? a.stream.requestHeaders(pairs, eos)
              : a.stream.responseHeaders(pairs, eos);
        const paused = d === 'pause';
        if (paused) d = await a.stream.waitResume(direction);
        const outcome = this.outcomeOf(a, d);
        if (outcome.kind !== 'continue') return outcome;
        this.note(a, paused ? `${direction} paused, continued` : 'continue');
      } catch (err) {
        this.policy(a.filter, err);
      }
    }
    return CONTINUE;
  }

  /** A body chunk that is not the last one: always synchronous (a pause here just buffers). */
  bodyChunk(direction: Direction, chunk: Uint8Array): BodyResult {
    const step = this.bodyFrom(direction, this.ordered(direction), 0, chunk, false);
    return 'waitAt' in step ? { outcome: CONTINUE, data: EMPTY } : step;
  }

  /**
   * The last chunk: filters may pause on it (e.g. for an http call) and resume later. Synchronous
   * unless one does.
   */
  lastBody(direction: Direction, chunk: Uint8Array): BodyResult | Promise<BodyResult> {
    const list = this.ordered(direction);
    const step = this.bodyFrom(direction, list, 0, chunk, true);
    return 'waitAt' in step ? this.lastBodyAfterPause(direction, list, step) : step;
  }

  private async lastBodyAfterPause(
    direction: Direction,
    list: Active[],
    first: BodyStep,
  ): Promise<BodyResult> {
    let step = first;
    while ('waitAt' in step) {
      const a = list[step.waitAt]!;
      try {
        const outcome = this.outcomeOf(a, await a.stream.waitResume(direction));
        if (outcome.kind !== 'continue') return { outcome, data: EMPTY };
      } catch (err) {
        this.policy(a.filter, err);
      }
      step = this.bodyFrom(direction, list, step.waitAt + 1, a.stream.takeBody(direction), true);
    }
    return step;
  }

  async trailers(direction: Direction, trailers: HeaderPairs): Promise<Outcome> {
    for (const a of this.ordered(direction)) {
      if (!this.active.includes(a)) continue;
      try {
        let d: string =
          direction === 'request' ? a.stream.requestTrailers(trailers) : a.stream.responseTrailers(trailers);
        if (d === 'pause') d = await a.stream.waitResume(direction);
        const outcome = this.outcomeOf(a, d);
        if (outcome.kind !== 'continue') return outcome;
      } catch (err) {
        this.policy(a.filter, err);
      }
    }
    return CONTINUE;
  }

  /** Before a local reply is encoded through the chain, every filter may see response callbacks again. */
  clearLocalResponses(): void {
    for (const a of this.active) a.stream.clearLocalResponse();
  }

  /** Stream end: paused filters are released and every filter gets on_done/on_log/on_delete. */
  finish(): void {
    for (const a of this.active) {
      a.stream.state.resumeAll('reset');
      a.stream.finish();
    }
  }

  /** Applies a broken filter's policy: fail-open drops it from this stream, fail-closed throws FailClosed. */
  private policy(filter: LoadedFilter, err: unknown): void {
    this.active = this.active.filter((a) => a.filter !== filter);
    const reason = describeError(err).split('\n')[0]!;
    this.settings.logger.error(
      {
        filter: filter.name,
        policy: filter.failOpen ? 'fail-open' : 'fail-closed',
        err: reason,
        requestId: this.requestId,
      },
      'filter failed on this stream',
    );
    this.decisions[filter.name] = filter.failOpen ? 'fail-open' : 'fail-closed';
    if (!filter.failOpen) throw new FailClosed(filter.name, reason);
  }

  /** The filters in this direction's order (a snapshot: policy() replaces `active`, never mutates it). */
  private ordered(direction: Direction): Active[] {
    const active = this.active;
    return direction === 'request' || active.length < 2 ? active : [...active].reverse();
  }

  /** Records what a filter did; a plain 'continue' never hides anything more telling. */
  private note(a: Active, decision: string): void {
    if (decision !== 'continue' || this.decisions[a.filter.name] === undefined)
      this.decisions[a.filter.name] = decision;
  }

  private outcomeOf(a: Active, d: string): Outcome {
    if (d === 'local' && a.stream.localResponse) {
      this.note(a, `local ${a.stream.localResponse.status}`);
      return { kind: 'local', filter: a.filter.name, response: a.stream.localResponse };
    }
    if (d === 'reset') {
      this.note(a, 'reset');
      return { kind: 'reset', filter: a.filter.name };
    }
    return CONTINUE;
  }

  /**
   * Runs one body chunk through the chain from filter `start` on, synchronously. It only stops early
   * when a filter pauses at end of stream (the caller must wait for it to resume); a pause before the
   * end just means "buffered in that filter", so nothing goes further this time.
   */
  private bodyFrom(
    direction: Direction,
    list: Active[],
    start: number,
    chunk: Uint8Array,
    eos: boolean,
  ): BodyStep {
    let data = chunk;
    for (let i = start; i < list.length; i++) {
      const a = list[i]!;
      if (!this.active.includes(a) || !a.stream.wantsBody(direction)) continue;
      try {
        const d =
          direction === 'request' ? a.stream.requestBody(data, eos) : a.stream.responseBody(data, eos);
        if (d === 'pause') {
          if (eos) return { waitAt: i };
          if (a.stream.state.body(direction).length > this.settings.maxBufferedBytes)
            return this.overflow(a, direction);
          return { outcome: CONTINUE, data: EMPTY };
        }
        const outcome = this.outcomeOf(a, d);
        if (outcome.kind !== 'continue') return { outcome, data: EMPTY };
        data = a.stream.takeBody(direction);
      } catch (err) {
        this.policy(a.filter, err);
        data = a.stream.takeBody(direction); // fail-open: what it held goes on unfiltered
      }
    }
    return { outcome: CONTINUE, data };
  }

  /** A filter buffered more than allowed: 413 for a request body, 500 for a response body, as Envoy does. */
  private overflow(a: Active, direction: Direction): BodyResult {
    const limit = this.settings.maxBufferedBytes;
    this.note(a, `${direction} body over ${limit} bytes buffered`);
    this.settings.logger.warn(
      { filter: a.filter.name, requestId: this.requestId, limit },
      `filter buffered more ${direction} body than allowed`,
    );
    a.stream.takeBody(direction); // release the memory now
    const [status, text] =
      direction === 'request' ? [413, 'Payload Too Large'] : [500, 'Internal Server Error'];
    const response = {
      status,
      details: 'buffer_overflow',
      body: new TextEncoder().encode(`${text}\n`),
      headers: [],
      grpcStatus: -1,
    };
    return { outcome: { kind: 'local', filter: a.filter.name, response }, data: EMPTY };
  }
}
