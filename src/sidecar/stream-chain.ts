/**
 * The filters of one stream: a stream context per filter, each phase run through them (request phases
 * in chain order, response phases in reverse, as Envoy's decoder and encoder filters), each filter's
 * failure policy, and what each filter decided (for the request log). It knows nothing about sockets:
 * Exchange moves the HTTP messages and asks this what to forward.
 */
import type { Logger } from '../log.js';
import { describeError } from '../errors.js';
import type {
  Decision,
  Direction,
  HeaderPairs,
  HttpStream,
  LocalResponse,
  StreamInfo,
} from '../runtime/index.js';
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

/**
 * One phase (headers, body or trailers of one direction) as the driver runs it on each filter. Phases
 * are small classes rather than object literals of closures: a phase is made for every header block
 * and body chunk of every stream, and one object costs less than one per callback.
 */
interface Phase {
  readonly direction: Direction;
  /** Runs the phase's callback on one filter's stream. */
  call(stream: HttpStream): Decision;
  /** Filters the phase passes by (a body phase skips filters without body callbacks). */
  skip(stream: HttpStream): boolean;
  /** After a filter continued (or failed open): e.g. take what it released for the next filter. */
  passed(stream: HttpStream): void;
  /** A filter paused: 'wait' for it to resume, or the phase's outcome now (a body chunk it buffers). */
  paused(a: Active): Outcome | 'wait';
}

/** Headers or trailers: every filter runs, a pause waits for the filter to continue. */
class HeadersPhase implements Phase {
  constructor(
    readonly direction: Direction,
    private readonly pairs: HeaderPairs,
    /** undefined: trailers (which always end the stream). */
    private readonly eos: boolean | undefined,
  ) {}

  call(s: HttpStream): Decision {
    const { pairs, eos } = this;
    if (this.direction === 'request')
      return eos === undefined ? s.requestTrailers(pairs) : s.requestHeaders(pairs, eos);
    return eos === undefined ? s.responseTrailers(pairs) : s.responseHeaders(pairs, eos);
  }

  skip(): boolean {
    return false;
  }

  passed(): void {}

  paused(): 'wait' {
    return 'wait';
  }
}

/** One body chunk: filters without body callbacks are passed by; what each releases goes to the next. */
class BodyPhase implements Phase {
  constructor(
    readonly direction: Direction,
    /** The bytes on their way through the chain. */
    public data: Uint8Array,
    private readonly eos: boolean,
    private readonly chain: StreamChain,
  ) {}

  call(s: HttpStream): Decision {
    return this.direction === 'request'
      ? s.requestBody(this.data, this.eos)
      : s.responseBody(this.data, this.eos);
  }

  skip(s: HttpStream): boolean {
    return !s.wantsBody(this.direction);
  }

  // What the filter released (or, after a fail-open failure, what it held) goes on to the next one.
  passed(s: HttpStream): void {
    this.data = s.takeBody(this.direction);
  }

  paused(a: Active): Outcome | 'wait' {
    if (this.eos) return 'wait';
    this.data = EMPTY;
    return this.chain.buffered(a, this.direction);
  }

  result(o: Outcome): BodyResult {
    return o.kind === 'continue' ? { outcome: o, data: this.data } : { outcome: o, data: EMPTY };
  }
}

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
   * Runs a header phase through the chain (request: chain order, response: reverse). Synchronous unless
   * a filter pauses: only then is the rest of the phase a promise, so the common path costs no promise
   * and no microtask turn. A pause here is Envoy's StopAllIteration (proxy-wasm hosts turn a header
   * StopIteration into it): nothing moves on until the filter continues the stream.
   */
  headers(direction: Direction, pairs: HeaderPairs, eos: boolean): Outcome | Promise<Outcome> {
    return this.dispatch(new HeadersPhase(direction, pairs, eos), this.ordered(direction), 0);
  }

  /**
   * One body chunk through the chain, as Envoy's `on_*_body(size, end_of_stream)`. A chunk that is not
   * the last is always synchronous: a filter that pauses on it buffers it (nothing goes further this
   * time, and the filter sees it again with the next one). The call with `eos` (usually with no new
   * bytes: the stream just ended) may pause, e.g. for an http call; only then is the result a promise.
   */
  body(direction: Direction, chunk: Uint8Array, eos: boolean): BodyResult | Promise<BodyResult> {
    const phase = new BodyPhase(direction, chunk, eos, this);
    const outcome = this.dispatch(phase, this.ordered(direction), 0);
    return outcome instanceof Promise ? outcome.then((o) => phase.result(o)) : phase.result(outcome);
  }

  /** A filter paused on a body chunk that is not the last: it buffers it, within the limit. */
  buffered(a: Active, direction: Direction): Outcome {
    if (a.stream.state.body(direction).length > this.settings.maxBufferedBytes)
      return this.overflow(a, direction);
    return CONTINUE;
  }

  /** A body chunk that is not the last one: always synchronous. */
  bodyChunk(direction: Direction, chunk: Uint8Array): BodyResult {
    return this.body(direction, chunk, false) as BodyResult;
  }

  /** Trailers end the stream: a filter may pause on them; synchronous unless one does. */
  trailers(direction: Direction, trailers: HeaderPairs): Outcome | Promise<Outcome> {
    return this.dispatch(new HeadersPhase(direction, trailers, undefined), this.ordered(direction), 0);
  }

  /**
   * The one phase driver, in the shape of hono's compose `dispatch(i)`: runs `phase` on filter `i` of
   * `list` and on, and returns the outcome, or a promise of it once a filter paused and must be waited
   * for (the rest of the phase then runs after it resumes, from `i + 1`). A filter that throws gets its
   * policy: fail-open drops it and the phase goes on, fail-closed throws FailClosed.
   */
  private dispatch(phase: Phase, list: Active[], i: number): Outcome | Promise<Outcome> {
    for (; i < list.length; i++) {
      const a = list[i]!;
      if (!this.active.includes(a) || phase.skip(a.stream)) continue;
      let d: Decision;
      try {
        d = phase.call(a.stream);
      } catch (err) {
        this.failed(phase, a, err);
        continue;
      }
      if (d === 'pause') {
        const held = phase.paused(a);
        if (held !== 'wait') return held;
        return this.afterPause(phase, list, i);
      }
      const outcome = this.outcomeOf(a, d);
      if (outcome.kind !== 'continue') return outcome;
      this.note(a, 'continue');
      phase.passed(a.stream);
    }
    return CONTINUE;
  }

  /** Filter `at` paused: wait for it to resume, then dispatch the rest of the phase. */
  private async afterPause(phase: Phase, list: Active[], at: number): Promise<Outcome> {
    const a = list[at]!;
    try {
      const outcome = this.outcomeOf(a, await a.stream.waitResume(phase.direction));
      if (outcome.kind !== 'continue') return outcome;
      this.note(a, `${phase.direction} paused, continued`);
      phase.passed(a.stream);
    } catch (err) {
      this.failed(phase, a, err);
    }
    return this.dispatch(phase, list, at + 1);
  }

  private failed(phase: Phase, a: Active, err: unknown): void {
    this.policy(a.filter, err); // throws FailClosed for a fail-closed filter
    phase.passed(a.stream); // fail-open: what it held goes on unfiltered
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
      a.stream.release();
    }
    this.active = [];
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

  private outcomeOf(a: Active, d: Decision): Outcome {
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

  /** A filter buffered more than allowed: 413 for a request body, 500 for a response body, as Envoy does. */
  private overflow(a: Active, direction: Direction): Outcome {
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
    return { kind: 'local', filter: a.filter.name, response };
  }
}
