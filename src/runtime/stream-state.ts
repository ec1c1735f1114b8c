/**
 * What the host keeps for one HTTP stream context: the header maps and body buffers the filter reads
 * and rewrites, properties it set, a local response if it sent one, and the waiters of a paused
 * direction. Host functions read and write this; HttpStream drives it.
 */
import type { HeaderPairs } from './pairs.js';
import type { LocalResponse, StreamInfo } from './types.js';

export type Direction = 'request' | 'response';

/** The empty body every stream starts with: shared, as a zero-length array has nothing to mutate. */
const NO_BYTES = new Uint8Array(0);
export type Resumption = 'continue' | 'local' | 'reset';
/** What a released stream holds instead (never written to: a released stream runs no callbacks). */
const NO_PAIRS = Object.freeze([]) as unknown as HeaderPairs;
const NO_INFO: StreamInfo = Object.freeze({});

interface Waiter {
  resolve: (how: Resumption) => void;
  reject: (err: unknown) => void;
}

export class StreamState {
  requestHeaders: HeaderPairs = [];
  requestTrailers: HeaderPairs = [];
  responseHeaders: HeaderPairs = [];
  responseTrailers: HeaderPairs = [];
  /** Body bytes received but not yet released downstream/upstream (what the filter sees). */
  requestBody: Uint8Array = NO_BYTES;
  responseBody: Uint8Array = NO_BYTES;
  /** Values the filter stored with proxy_set_property (created on first use: most filters never do). */
  private ownProperties: Map<string, Uint8Array> | undefined;
  localResponse: LocalResponse | undefined;
  /** Set once either direction was closed with proxy_close_stream. */
  reset = false;
  /** Response code details Envoy would report (`via_upstream`, `via_local_reply`, ...). */
  responseCodeDetails = '';
  // Per direction: who waits for a resumption, and a resumption that came before anyone waited.
  // Plain fields rather than Maps: this object is made for every stream of every filter.
  private requestWaiter: Waiter | undefined;
  private responseWaiter: Waiter | undefined;
  private requestEarly: Resumption | undefined;
  private responseEarly: Resumption | undefined;

  constructor(public info: StreamInfo) {}

  getProperty(key: string): Uint8Array | undefined {
    return this.ownProperties?.get(key);
  }

  setProperty(key: string, value: Uint8Array): void {
    (this.ownProperties ??= new Map()).set(key, value);
  }

  /** Resolves when the filter resumes a paused direction, answers locally, or resets the stream. */
  waitResume(direction: Direction): Promise<Resumption> {
    const early = direction === 'request' ? this.requestEarly : this.responseEarly;
    if (early) {
      this.clearEarly(direction);
      return Promise.resolve(early);
    }
    if (this.localResponse) return Promise.resolve('local');
    if (this.reset) return Promise.resolve('reset');
    return new Promise((resolve, reject) => {
      if (direction === 'request') this.requestWaiter = { resolve, reject };
      else this.responseWaiter = { resolve, reject };
    });
  }

  resume(direction: Direction, how: Resumption): void {
    const w = direction === 'request' ? this.requestWaiter : this.responseWaiter;
    if (w) {
      if (direction === 'request') this.requestWaiter = undefined;
      else this.responseWaiter = undefined;
      w.resolve(how);
    } else if (direction === 'request') {
      this.requestEarly = how;
    } else {
      this.responseEarly = how;
    }
  }

  /** Local responses and resets end both directions. */
  resumeAll(how: Resumption): void {
    this.resume('request', how);
    this.resume('response', how);
  }

  /** The VM trapped: every paused direction fails with the trap. */
  fail(err: unknown): void {
    const waiters = [this.requestWaiter, this.responseWaiter];
    this.requestWaiter = this.responseWaiter = undefined;
    for (const w of waiters) w?.reject(err);
  }

  /** Drops bookkeeping of a resumption nobody waited for (a direction that was never paused). */
  clearEarly(direction: Direction): void {
    if (direction === 'request') this.requestEarly = undefined;
    else this.responseEarly = undefined;
  }

  /** See HttpStream.release(): forget everything request-sized. */
  release(): void {
    this.requestHeaders = this.requestTrailers = this.responseHeaders = this.responseTrailers = NO_PAIRS;
    this.requestBody = this.responseBody = NO_BYTES;
    this.ownProperties = undefined;
    this.localResponse = undefined;
    this.info = NO_INFO;
  }

  body(direction: Direction): Uint8Array {
    return direction === 'request' ? this.requestBody : this.responseBody;
  }

  setBody(direction: Direction, data: Uint8Array): void {
    if (direction === 'request') this.requestBody = data;
    else this.responseBody = data;
  }
}
