/**
 * One HTTP stream through one filter: feeds headers, body chunks and trailers to the guest's
 * callbacks and reports what the filter decided. A 'pause' is resolved later by the filter itself
 * (proxy_continue_stream, a local response, or proxy_close_stream); `waitResume` waits for that.
 * Bodies follow Envoy's buffering rule: while a filter pauses on body chunks, they accumulate and the
 * next callback sees the whole buffered body; 'continue' releases it (as the filter left it).
 */
import type { HeaderPairs } from './pairs.js';
import { StreamState, type Direction, type Resumption } from './stream-state.js';
import type { LocalResponse, StreamInfo } from './types.js';
import type { ContextRecord, FilterVm } from './vm.js';

export type Decision = 'continue' | 'pause' | 'local' | 'reset';

const EMPTY = new Uint8Array(0);

function concat(a: Uint8Array, b: Uint8Array): Uint8Array {
  if (a.length === 0) return b;
  if (b.length === 0) return a;
  const out = new Uint8Array(a.length + b.length);
  out.set(a, 0);
  out.set(b, a.length);
  return out;
}

export class HttpStream {
  readonly state: StreamState;
  private readonly ctx: ContextRecord;
  private finished = false;

  constructor(
    private readonly vm: FilterVm,
    info: StreamInfo,
  ) {
    this.state = new StreamState(info);
    this.ctx = vm.createStreamContext(this.state);
  }

  get contextId(): number {
    return this.ctx.id;
  }

  get localResponse(): LocalResponse | undefined {
    return this.state.localResponse;
  }

  /**
   * Forgets the local response once the host has taken it, so the stream's response callbacks can run
   * for it (the sidecar encodes local replies through the chain, as Envoy does).
   */
  clearLocalResponse(): void {
    this.state.localResponse = undefined;
    this.state.clearEarly('request');
    this.state.clearEarly('response');
  }

  /** The filter implements body callbacks for this direction (if not, bodies can bypass it entirely). */
  wantsBody(direction: Direction): boolean {
    return this.vm.has(direction === 'request' ? 'proxy_on_request_body' : 'proxy_on_response_body');
  }

  /** `headers` is used in place: the filter's edits are visible in the same array afterwards. */
  requestHeaders(headers: HeaderPairs, endOfStream: boolean): Decision {
    this.state.requestHeaders = headers;
    return this.run('request', 'proxy_on_request_headers', headers.length, endOfStream ? 1 : 0);
  }

  requestBody(chunk: Uint8Array, endOfStream: boolean): Decision {
    this.state.requestBody = concat(this.state.requestBody, chunk);
    return this.run('request', 'proxy_on_request_body', this.state.requestBody.length, endOfStream ? 1 : 0);
  }

  requestTrailers(trailers: HeaderPairs): Decision {
    this.state.requestTrailers = trailers;
    return this.run('request', 'proxy_on_request_trailers', trailers.length);
  }

  responseHeaders(headers: HeaderPairs, endOfStream: boolean): Decision {
    this.state.responseHeaders = headers;
    return this.run('response', 'proxy_on_response_headers', headers.length, endOfStream ? 1 : 0);
  }

  responseBody(chunk: Uint8Array, endOfStream: boolean): Decision {
    this.state.responseBody = concat(this.state.responseBody, chunk);
    return this.run(
      'response',
      'proxy_on_response_body',
      this.state.responseBody.length,
      endOfStream ? 1 : 0,
    );
  }

  responseTrailers(trailers: HeaderPairs): Decision {
    this.state.responseTrailers = trailers;
    return this.run('response', 'proxy_on_response_trailers', trailers.length);
  }

  /** Body bytes the filter released: returns them and empties the buffer. */
  takeBody(direction: Direction): Uint8Array {
    const data = this.state.body(direction);
    this.state.setBody(direction, EMPTY);
    return data;
  }

  /** After a 'pause': resolves once the filter continues, answers locally or resets; rejects on a trap. */
  waitResume(direction: Direction): Promise<Resumption> {
    return this.state.waitResume(direction);
  }

  /** End of stream: proxy_on_done, proxy_on_log, proxy_on_delete (errors here only get logged). */
  finish(): void {
    if (this.finished) return;
    this.finished = true;
    try {
      this.vm.finishContext(this.ctx);
    } catch {
      // The VM already recorded and reported the trap; the stream is over either way.
    }
  }

  /**
   * Drops what the stream holds (header maps, bodies, connection facts) once its host is done with it
   * (after finish()). Not needed for correctness: a long-lived stream object (one that a garbage
   * collection moved to the old generation while its request was in flight) would otherwise keep the
   * request's young objects alive through the next collections, copying and promoting them.
   */
  release(): void {
    this.state.release();
  }

  private run(direction: Direction, callback: string, ...args: number[]): Decision {
    this.state.clearEarly(direction);
    const action = this.vm.callAs(this.ctx, callback, this.ctx.id, ...args);
    if (this.state.localResponse) return 'local';
    if (this.state.reset) return 'reset';
    return action === 0 ? 'continue' : 'pause';
  }
}
