/**
 * StreamChain on its own, with fake streams standing in for the filters' stream contexts: the phase
 * driver's order, its sync fast path, pauses and resumptions, bodies handed from filter to filter,
 * buffering, the buffer limit and the failure policies.
 */
import { createLogger } from '../../src/log.js';
import { describe, expect, it } from 'vitest';
import type { Decision, Direction, HeaderPairs, HttpStream, LocalResponse } from '../../src/runtime/index.js';
import type { LoadedFilter } from '../../src/sidecar/index.js';
import { FailClosed, StreamChain } from '../../src/sidecar/stream-chain.js';

const EMPTY = new Uint8Array(0);
const bytes = (s: string): Uint8Array => new TextEncoder().encode(s);
const text = (b: Uint8Array): string => new TextDecoder().decode(b);

type Script = (phase: string, data: string, eos: boolean) => Decision;

/** The parts of HttpStream the chain uses, driven by a script; it records every call. */
class FakeStream {
  readonly calls: string[] = [];
  localResponse: LocalResponse | undefined;
  private buffered: Record<Direction, Uint8Array> = { request: EMPTY, response: EMPTY };
  private waiter:
    { resolve: (how: 'continue' | 'local' | 'reset') => void; reject: (e: unknown) => void } | undefined;
  readonly state = {
    body: (d: Direction) => this.buffered[d],
    resumeAll: () => this.resume('reset'),
  };
  finished = false;

  constructor(
    readonly name: string,
    private readonly script: Script,
    private readonly bodies = true,
    /** What the filter does to the bytes it continues (e.g. rewrite them). */
    private readonly transform: (data: string) => string = (d) => d,
  ) {}

  wantsBody(): boolean {
    return this.bodies;
  }
  requestHeaders(_p: HeaderPairs, eos: boolean): Decision {
    return this.run('request-headers', '', eos);
  }
  responseHeaders(_p: HeaderPairs, eos: boolean): Decision {
    return this.run('response-headers', '', eos);
  }
  requestBody(chunk: Uint8Array, eos: boolean): Decision {
    return this.bodyCall('request', chunk, eos);
  }
  responseBody(chunk: Uint8Array, eos: boolean): Decision {
    return this.bodyCall('response', chunk, eos);
  }
  requestTrailers(): Decision {
    return this.run('request-trailers', '', true);
  }
  responseTrailers(): Decision {
    return this.run('response-trailers', '', true);
  }
  takeBody(d: Direction): Uint8Array {
    const data = this.buffered[d];
    this.buffered[d] = EMPTY;
    return data;
  }
  waitResume(): Promise<'continue' | 'local' | 'reset'> {
    return new Promise((resolve, reject) => (this.waiter = { resolve, reject }));
  }
  /** The VM trapped while the stream was paused. */
  trap(err: unknown): void {
    this.waiter?.reject(err);
  }
  /** What proxy_continue_stream / a local response does to a paused stream. */
  resume(how: 'continue' | 'local' | 'reset' = 'continue'): void {
    const w = this.waiter;
    this.waiter = undefined;
    w?.resolve(how);
  }
  clearLocalResponse(): void {
    this.localResponse = undefined;
  }
  finish(): void {
    this.finished = true;
  }
  released = false;
  release(): void {
    this.released = true;
  }
  private bodyCall(d: Direction, chunk: Uint8Array, eos: boolean): Decision {
    const all = text(this.buffered[d]) + text(chunk);
    this.buffered[d] = bytes(all); // as HttpStream does: the chunk joins the buffer before the call
    const decision = this.run(`${d}-body`, all, eos);
    this.buffered[d] = bytes(decision === 'continue' ? this.transform(all) : all);
    return decision;
  }
  private run(phase: string, data: string, eos: boolean): Decision {
    this.calls.push(`${phase}${data ? `:${data}` : ''}${eos ? ':eos' : ''}`);
    return this.script(phase, data, eos);
  }
}

const continueAll: Script = () => 'continue';

function chainOf(streams: FakeStream[], opts: { failOpen?: boolean; maxBufferedBytes?: number } = {}) {
  const filters: LoadedFilter[] = streams.map((stream) => ({
    name: stream.name,
    failOpen: opts.failOpen ?? true,
    error: undefined,
    plugin: { newStreamSync: () => stream as unknown as HttpStream } as unknown as LoadedFilter['plugin'],
  }));
  const chain = new StreamChain(
    { filters, logger: createLogger('test', 'silent'), maxBufferedBytes: opts.maxBufferedBytes ?? 1 << 20 },
    'req-1',
  );
  const opened = chain.open({ protocol: 'HTTP/1.1', requestId: 'req-1', startTime: new Date() });
  expect(opened).toBeUndefined(); // every fake VM is healthy: synchronous
  return chain;
}

describe('StreamChain', () => {
  it('runs request phases in chain order and response phases in reverse, synchronously', () => {
    const a = new FakeStream('a', continueAll);
    const b = new FakeStream('b', continueAll);
    const chain = chainOf([a, b]);
    const order: string[] = [];
    for (const s of [a, b]) {
      const push = s.calls.push.bind(s.calls);
      s.calls.push = (...items: string[]) => (
        order.push(...items.map((i) => `${s.name} ${i}`)),
        push(...items)
      );
    }
    expect(chain.headers('request', [], false)).toEqual({ kind: 'continue' });
    expect(chain.headers('response', [], true)).toEqual({ kind: 'continue' });
    expect(order).toEqual([
      'a request-headers',
      'b request-headers',
      'b response-headers:eos',
      'a response-headers:eos',
    ]);
    expect(chain.decisions).toEqual({ a: 'continue', b: 'continue' });
  });

  it('returns a promise only when a filter pauses, and runs the rest of the phase after it resumes', async () => {
    const a = new FakeStream('a', (phase) => (phase === 'request-headers' ? 'pause' : 'continue'));
    const b = new FakeStream('b', continueAll);
    const chain = chainOf([a, b]);
    const pending = chain.headers('request', [], true);
    expect(pending).toBeInstanceOf(Promise);
    await Promise.resolve();
    expect(b.calls).toEqual([]); // b waits for a
    a.resume();
    expect(await pending).toEqual({ kind: 'continue' });
    expect(b.calls).toEqual(['request-headers:eos']);
    expect(chain.decisions.a).toBe('request paused, continued');
  });

  it('hands each body chunk on at once, with what each filter made of it, and ends with its own eos call', () => {
    const a = new FakeStream('a', continueAll, true, (d) => d.toUpperCase());
    const b = new FakeStream('b', continueAll, true, (d) => `[${d}]`);
    const chain = chainOf([a, b]);
    expect(text(chain.bodyChunk('request', bytes('one')).data)).toBe('[ONE]');
    expect(text(chain.bodyChunk('request', bytes('two')).data)).toBe('[TWO]');
    const last = chain.body('request', EMPTY, true);
    expect(last).not.toBeInstanceOf(Promise);
    expect(text((last as { data: Uint8Array }).data)).toBe('[]');
    expect(b.calls).toEqual(['request-body:ONE', 'request-body:TWO', 'request-body:eos']);
  });

  it('lets a filter buffer by pausing on chunks: nothing goes on until it continues, then all of it', () => {
    const a = new FakeStream(
      'a',
      (_p, _d, eos) => (eos ? 'continue' : 'pause'),
      true,
      (d) => `<${d}>`,
    );
    const b = new FakeStream('b', continueAll);
    const chain = chainOf([a, b]);
    expect(chain.bodyChunk('request', bytes('x')).data).toHaveLength(0);
    expect(chain.bodyChunk('request', bytes('y')).data).toHaveLength(0);
    expect(b.calls).toEqual([]);
    const last = chain.body('request', EMPTY, true) as { data: Uint8Array };
    expect(text(last.data)).toBe('<xy>');
    expect(a.calls).toEqual(['request-body:x', 'request-body:xy', 'request-body:xy:eos']);
    expect(b.calls).toEqual(['request-body:<xy>:eos']);
  });

  it('waits for a filter that pauses on the end of stream (e.g. for an http call)', async () => {
    const a = new FakeStream('a', (_p, _d, eos) => (eos ? 'pause' : 'continue'));
    const chain = chainOf([a]);
    const pending = chain.body('request', bytes('z'), true);
    expect(pending).toBeInstanceOf(Promise);
    a.resume();
    expect(text((await pending).data)).toBe('z');
  });

  it('skips filters without body callbacks in body phases', () => {
    const a = new FakeStream('a', continueAll, false);
    const chain = chainOf([a]);
    expect(chain.wantsBody('request')).toBe(false);
    expect(text(chain.bodyChunk('request', bytes('q')).data)).toBe('q');
    expect(a.calls).toEqual([]);
  });

  it('stops at a local response or a reset, and at a filter that resumes with one', async () => {
    const local: LocalResponse = { status: 401, details: '', body: EMPTY, headers: [], grpcStatus: -1 };
    const a = new FakeStream('a', () => 'local');
    a.localResponse = local;
    const b = new FakeStream('b', continueAll);
    const chain = chainOf([a, b]);
    expect(chain.headers('request', [], true)).toEqual({ kind: 'local', filter: 'a', response: local });
    expect(b.calls).toEqual([]);
    expect(chain.decisions.a).toBe('local 401');

    const c = new FakeStream('c', () => 'pause');
    const pending = chainOf([c]).trailers('response', [['x', '1']]);
    c.resume('reset');
    expect(await pending).toEqual({ kind: 'reset', filter: 'c' });
  });

  it('answers 413 for a request body buffered past the limit (500 for a response)', () => {
    const a = new FakeStream('a', () => 'pause');
    const chain = chainOf([a], { maxBufferedBytes: 4 });
    expect(chain.bodyChunk('request', bytes('abc')).outcome.kind).toBe('continue');
    const over = chain.bodyChunk('request', bytes('de')).outcome;
    expect(over).toMatchObject({ kind: 'local', filter: 'a', response: { status: 413 } });
    expect(a.takeBody('request')).toHaveLength(0); // released at once
    const b = new FakeStream('b', () => 'pause');
    const response = chainOf([b], { maxBufferedBytes: 1 }).bodyChunk('response', bytes('xy')).outcome;
    expect(response).toMatchObject({ kind: 'local', response: { status: 500 } });
  });

  it('fail-open: a filter that throws is dropped and its bytes go on unfiltered; fail-closed throws', async () => {
    const broken = (): Decision => {
      throw new Error('trap');
    };
    const a = new FakeStream('a', broken);
    const b = new FakeStream('b', continueAll);
    const chain = chainOf([a, b]);
    expect(text(chain.bodyChunk('request', bytes('data')).data)).toBe('data');
    expect(chain.filterNames).toEqual(['b']);
    expect(chain.decisions.a).toBe('fail-open');

    const c = new FakeStream('c', broken);
    expect(() => chainOf([c], { failOpen: false }).headers('request', [], true)).toThrow(FailClosed);
    // A trap after a pause (the resumption fails) rejects the phase's promise the same way.
    const d = new FakeStream('d', () => 'pause');
    const closed = chainOf([d], { failOpen: false });
    const pending = closed.headers('request', [], true);
    d.trap(new Error('trap in on_http_call_response'));
    await expect(pending).rejects.toThrow(FailClosed);
    expect(closed.decisions.d).toBe('fail-closed');
  });

  it('releases paused filters and finishes every stream at the end', async () => {
    const a = new FakeStream('a', () => 'pause');
    const chain = chainOf([a]);
    const pending = chain.headers('request', [], true);
    chain.finish();
    expect(await pending).toEqual({ kind: 'reset', filter: 'a' });
    expect(a.finished).toBe(true);
    expect(a.released).toBe(true);
  });
});
