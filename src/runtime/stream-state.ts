/**
 * What the host keeps for one HTTP stream context: the header maps and body buffers the filter reads
 * and rewrites, properties it set, a local response if it sent one, and the waiters of a paused
 * direction. Host functions read and write this; HttpStream drives it.
 */
import type { HeaderPairs } from './pairs.js';
import type { LocalResponse, StreamInfo } from './types.js';

export type Direction = 'request' | 'response';
export type Resumption = 'continue' | 'local' | 'reset';

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
  requestBody: Uint8Array = new Uint8Array(0);
  responseBody: Uint8Array = new Uint8Array(0);
  readonly properties = new Map<string, Uint8Array>();
  localResponse: LocalResponse | undefined;
  /** Set once either direction was closed with proxy_close_stream. */
  reset = false;
  /** Response code details Envoy would report (`via_upstream`, `via_local_reply`, ...). */
  responseCodeDetails = '';
  private readonly waiters = new Map<Direction, Waiter>();
  /** A continue that arrived while the direction was not (yet) waiting. */
  private readonly early = new Map<Direction, Resumption>();

  constructor(readonly info: StreamInfo) {}

  /** Resolves when the filter resumes a paused direction, answers locally, or resets the stream. */
  waitResume(direction: Direction): Promise<Resumption> {
    const early = this.early.get(direction);
    if (early) {
      this.early.delete(direction);
      return Promise.resolve(early);
    }
    if (this.localResponse) return Promise.resolve('local');
    if (this.reset) return Promise.resolve('reset');
    return new Promise((resolve, reject) => this.waiters.set(direction, { resolve, reject }));
  }

  resume(direction: Direction, how: Resumption): void {
    const w = this.waiters.get(direction);
    if (w) {
      this.waiters.delete(direction);
      w.resolve(how);
    } else {
      this.early.set(direction, how);
    }
  }

  /** Local responses and resets end both directions. */
  resumeAll(how: Resumption): void {
    this.resume('request', how);
    this.resume('response', how);
  }

  /** The VM trapped: every paused direction fails with the trap. */
  fail(err: unknown): void {
    for (const w of this.waiters.values()) w.reject(err);
    this.waiters.clear();
  }

  /** Drops bookkeeping of a resumption nobody waited for (a direction that was never paused). */
  clearEarly(direction: Direction): void {
    this.early.delete(direction);
  }

  body(direction: Direction): Uint8Array {
    return direction === 'request' ? this.requestBody : this.responseBody;
  }

  setBody(direction: Direction, data: Uint8Array): void {
    if (direction === 'request') this.requestBody = data;
    else this.responseBody = data;
  }
}
