/**
 * Moves one message body from its source (the client's request or the upstream's response) through the
 * stream's filter chain to its sink, as Envoy's filter manager does: every chunk goes through the chain
 * as soon as it arrives and what the chain releases is written at once (`on_*_body(size, false)`); the
 * end is signalled by a call with `end_of_stream` (with the bytes that came with the end, if any, else
 * none); trailers, if any, follow.
 * Backpressure pauses the source. Framing: see `Framing` and exchange.ts.
 */
import type { Direction } from '../runtime/index.js';
import type { BodySource } from '../http1/body.js';
import { headerRecord, trailerPairs } from './headers.js';
import { CONTINUE, type BodyResult, type Outcome, type StreamChain } from './stream-chain.js';

const EMPTY = new Uint8Array(0);

/** Where a body goes: the upstream request (src/http1/request.ts) or the client's reply (src/http1/reply.ts). */
export interface Sink {
  write(chunk: Uint8Array): boolean;
  end(chunk?: Uint8Array): unknown;
  once(event: 'drain', listener: () => void): unknown;
  hasHeader(name: string): boolean;
  /** ServerResponse says what a header holds (the upstream request need not). */
  getHeader?(name: string): unknown;
  setHeader(name: string, value: number): unknown;
  addTrailers(trailers: Record<string, string | string[]>): void;
  flushHeaders(): void;
  destroy(): unknown;
  readonly headersSent: boolean;
  readonly destroyed: boolean;
  readonly writableEnded: boolean;
}

/** A body no filter reads: straight from source to sink, with backpressure; a failed source resets. */
export function pipeBody(source: BodySource, sink: Sink): void {
  const resume = (): void => source.resume();
  source.read({
    data: (chunk) => {
      if (!sink.write(chunk)) {
        source.pause();
        sink.once('drain', resume);
      }
    },
    end: () => void sink.end(),
    error: () => void sink.destroy(),
  });
}

/**
 * `holdHeaders`: the sink's headers carry a content-length and some filter reads the body, so they
 * wait for the first bytes the chain releases. If a filter buffers the whole body instead, the headers
 * leave with it and the length is set to what the body became (a filter may have replaced it).
 *
 * Returns the outcome itself when the whole body went through while the source was first read (a
 * small response that came with its head, every filter continuing): no promise for the usual case.
 */
export function pumpBody(
  chain: StreamChain,
  direction: Direction,
  source: BodySource,
  sink: Sink,
  holdHeaders: boolean,
): Outcome | Promise<Outcome> {
  // How the pump ends: `done` (or `failure`) once settled; the promise only if that is not at once.
  let done: Outcome | undefined;
  let failure: { err: unknown } | undefined;
  let resolve: ((outcome: Outcome) => void) | undefined;
  let reject: ((err: unknown) => void) | undefined;
  {
    let held = holdHeaders;
    let settled = false;
    const settle = (outcome: Outcome): void => {
      if (settled) return;
      settled = true;
      if (outcome.kind !== 'continue') source.discard(); // what is left goes nowhere
      if (resolve) resolve(outcome);
      else done = outcome;
    };
    const fail = (err: unknown): void => {
      if (settled) return;
      settled = true;
      source.discard();
      if (reject) reject(err);
      else failure = { err };
    };
    const resume = (): void => {
      source.resume();
    };
    // A chunk waits only for the rest of the read it came in (a microtask: IncomingMessage emits the
    // 'end' of the same read through process.nextTick, which runs first; the upstream client reports it
    // in the same turn). So a body that arrives with its
    // end goes through the chain once, with end_of_stream, as Envoy's HTTP/1 codec hands over what one
    // read parsed; any other chunk is forwarded as soon as that read is done.
    let pending: Uint8Array | undefined;
    let scheduled = false;
    const flush = (): void => {
      scheduled = false;
      const chunk = pending;
      pending = undefined;
      if (chunk !== undefined && !settled) forward(chunk);
    };
    const onData = (chunk: Uint8Array): void => {
      if (settled) return;
      if (pending !== undefined) forward(pending);
      if (settled) return;
      pending = chunk;
      if (!scheduled) {
        scheduled = true;
        queueMicrotask(flush);
      }
    };
    // Chunks before the end run synchronously: no promise per chunk.
    const forward = (chunk: Uint8Array): void => {
      let step: BodyResult;
      try {
        step = chain.bodyChunk(direction, chunk);
      } catch (err) {
        return fail(err);
      }
      if (step.outcome.kind !== 'continue') return settle(step.outcome);
      if (step.data.length === 0) return; // a filter holds it
      held = false;
      if (!sink.write(step.data)) {
        source.pause();
        sink.once('drain', resume);
      }
    };
    const end = ({ outcome, data }: BodyResult): void => {
      if (outcome.kind !== 'continue') return settle(outcome);
      // The whole body is known and nothing was sent yet: the length must be the body's own.
      if (held && lengthDiffers(sink, data.length)) sink.setHeader('content-length', data.length);
      const trailers = trailerPairs(source.rawTrailers);
      if (trailers.length === 0) {
        sink.end(data.length > 0 ? data : undefined);
        return settle(CONTINUE);
      }
      if (data.length > 0) sink.write(data);
      const afterTrailers = (o: Outcome): void => {
        if (o.kind !== 'continue') return settle(o);
        sink.addTrailers(headerRecord(trailers));
        sink.end();
        settle(CONTINUE);
      };
      const pending = chain.trailers(direction, trailers);
      if (pending instanceof Promise) pending.then(afterTrailers, fail);
      else afterTrailers(pending);
    };
    const onEnd = (): void => {
      if (settled) return;
      try {
        // The end of stream is its own call, as Envoy makes it; synchronous unless a filter pauses.
        const last = chain.body(direction, pending ?? EMPTY, true);
        pending = undefined;
        if (last instanceof Promise) last.then(end).catch(fail);
        else end(last);
      } catch (err) {
        fail(err);
      }
    };
    source.read({ data: onData, end: onEnd, error: () => settle({ kind: 'reset', filter: '' }) });
  }
  if (done) return done;
  if (failure) throw failure.err;
  return new Promise<Outcome>((res, rej) => {
    resolve = res;
    reject = rej;
  });
}

/** The sink's headers carry a content-length other than `length` (setting one that is right costs). */
function lengthDiffers(sink: Sink, length: number): boolean {
  if (!sink.hasHeader('content-length')) return false;
  const current = sink.getHeader?.('content-length');
  return typeof current === 'number' ? current !== length : current !== String(length);
}

/**
 * Headers a filter continued leave now, as Envoy sends them, not with the first body bytes; but not
 * in this very turn: when the body is already here (the usual small response) headers and body still
 * leave in one write.
 */
export function flushHeadersSoon(sink: Sink): void {
  setImmediate(() => {
    if (!sink.headersSent && !sink.destroyed && !sink.writableEnded) sink.flushHeaders();
  });
}
