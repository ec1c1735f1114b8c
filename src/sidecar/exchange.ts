/**
 * One request/response through the filter chain. Request phases run the chain in order, response
 * phases in reverse (as Envoy's decoder and encoder filters do). Bodies stream chunk by chunk unless a
 * filter pauses on them (then they are buffered in that filter until it continues). A filter that
 * traps is handled by its policy: fail-open drops it from this stream, fail-closed answers 503 (or
 * resets the stream once the response has started). Nothing here throws into the server.
 */
import {
  request as httpRequest,
  type Agent,
  type ClientRequest,
  type IncomingMessage,
  type ServerResponse,
} from 'node:http';
import { randomUUID } from 'node:crypto';
import type { Readable } from 'node:stream';
import type { Logger } from 'pino';
import { describeError } from '../errors.js';
import type { Direction, HeaderPairs, HttpStream, LocalResponse, StreamInfo } from '../runtime/index.js';
import type { LoadedFilter } from './chain.js';
import { applyHeaders, headerRecord, pseudo, requestPairs, responsePairs, trailerPairs } from './headers.js';

const EMPTY = new Uint8Array(0);

interface Active {
  filter: LoadedFilter;
  stream: HttpStream;
}

type Outcome =
  | { kind: 'continue' }
  | { kind: 'local'; filter: string; response: LocalResponse }
  | { kind: 'reset'; filter: string };
const CONTINUE: Outcome = { kind: 'continue' };

interface BodyResult {
  outcome: Outcome;
  data: Uint8Array;
}
type BodyStep = BodyResult | { waitAt: number };

/** A local response as response header pairs (Envoy adds a content-type to a body that has none). */
function localPairs(response: LocalResponse): HeaderPairs {
  const pairs: HeaderPairs = [
    [':status', String(response.status)],
    ...response.headers.filter(([k]) => !k.startsWith(':')),
  ];
  if (response.body.length > 0 && !pairs.some(([k]) => k === 'content-type'))
    pairs.push(['content-type', 'text/plain']);
  return pairs;
}

/** Thrown inside the exchange when a fail-closed filter breaks; carries the filter's name. */
class FailClosed extends Error {
  constructor(
    readonly filter: string,
    reason: string,
  ) {
    super(`filter "${filter}" failed (fail-closed): ${reason}`);
  }
}

export interface ExchangeContext {
  upstream: URL;
  agent: Agent;
  filters: readonly LoadedFilter[];
  logger: Logger;
  /** Most body bytes one filter may hold back while it pauses (Envoy's buffer limit). */
  maxBufferedBytes: number;
}

export class Exchange {
  private active: Active[] = [];
  private readonly decisions: Record<string, string> = {};
  private upstreamReq: ClientRequest | undefined;
  private readonly started = process.hrtime.bigint();
  private readonly requestId = randomUUID();
  private done = false;
  private replyingLocally = false;

  constructor(
    private readonly ctx: ExchangeContext,
    private readonly req: IncomingMessage,
    private readonly res: ServerResponse,
  ) {
    res.on('close', () => this.finish());
  }

  async run(): Promise<void> {
    try {
      await this.handle();
    } catch (err) {
      this.abortWith(err);
    }
  }

  private async handle(): Promise<void> {
    const { req } = this;
    await this.openStreams();
    const pairs = requestPairs(req, this.ctx.upstream.host);
    const hasBody =
      req.headers['transfer-encoding'] !== undefined || Number(req.headers['content-length'] ?? 0) > 0;
    const outcome = await this.headersPhase('request', pairs, !hasBody);
    if (outcome.kind !== 'continue') return this.conclude(outcome);
    if (this.done) return; // the client went away while a filter held the request

    // Always the configured upstream: a :path a filter rewrote (even to "//elsewhere/") stays a path on it.
    const rawPath = pseudo(pairs, ':path') ?? '/';
    const path = rawPath.startsWith('/') ? rawPath : `/${rawPath}`;
    const headers = headerRecord(pairs);
    headers.host = pseudo(pairs, ':authority') ?? this.ctx.upstream.host;
    // Piping is cheapest, but it cannot show the body to filters nor carry trailers.
    const filtersReadBody =
      this.active.some((a) => a.stream.wantsBody('request')) || req.headers.trailer !== undefined;
    if (hasBody && filtersReadBody) delete headers['content-length']; // set again once the body is known
    const { upstream } = this.ctx;
    const ureq = httpRequest({
      hostname: upstream.hostname.replace(/^\[|\]$/g, ''),
      port: upstream.port || 80,
      path,
      method: pseudo(pairs, ':method') ?? 'GET',
      headers,
      agent: this.ctx.agent,
    });
    this.upstreamReq = ureq;
    ureq.on('response', (ures) => void this.onResponse(ures).catch((err) => this.abortWith(err)));
    ureq.on('error', (err) => this.onUpstreamError(err));

    if (!hasBody) ureq.end();
    else if (!filtersReadBody) req.pipe(ureq);
    else {
      const result = await this.pump('request', req, ureq);
      if (result.kind !== 'continue') this.conclude(result);
    }
  }

  /** One stream context per filter; load failures and VM start failures apply the filter's policy. */
  private async openStreams(): Promise<void> {
    // Socket addresses cost a system call; most filters never ask, so they are read on demand.
    const socket = this.req.socket;
    const info: StreamInfo = {
      get sourceAddress() {
        return socket.remoteAddress;
      },
      get sourcePort() {
        return socket.remotePort;
      },
      get destinationAddress() {
        return socket.localAddress;
      },
      get destinationPort() {
        return socket.localPort;
      },
      protocol: `HTTP/${this.req.httpVersion}`,
      requestId: this.requestId,
      startTime: new Date(),
    };
    for (const filter of this.ctx.filters) {
      try {
        if (!filter.plugin) throw filter.error ?? new Error('not loaded');
        const stream = filter.plugin.newStreamSync(info) ?? (await filter.plugin.newStream(info));
        this.active.push({ filter, stream });
      } catch (err) {
        this.policy(filter, err);
      }
    }
  }

  /** Applies a broken filter's policy: fail-open drops it from this stream, fail-closed throws FailClosed. */
  private policy(filter: LoadedFilter, err: unknown): void {
    this.active = this.active.filter((a) => a.filter !== filter);
    const reason = describeError(err).split('\n')[0]!;
    this.ctx.logger.error(
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

  private ordered(direction: Direction): Active[] {
    // policy() replaces this.active rather than mutating it, so handing out the array itself is safe.
    return direction === 'request' ? this.active : [...this.active].reverse();
  }

  /** Records what a filter did, for the request log line; a plain 'continue' never hides anything else. */
  private note(a: Active, decision: string): void {
    if (decision !== 'continue' || this.decisions[a.filter.name] === undefined)
      this.decisions[a.filter.name] = decision;
  }

  private async headersPhase(direction: Direction, pairs: HeaderPairs, eos: boolean): Promise<Outcome> {
    for (const a of this.ordered(direction)) {
      if (!this.active.includes(a)) continue;
      try {
        let d: string =
          direction === 'request'
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
          if (!eos) {
            if (a.stream.state.body(direction).length > this.ctx.maxBufferedBytes)
              return this.overflow(a, direction);
            return { outcome: CONTINUE, data: EMPTY };
          }
          return { waitAt: i };
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
    const status = direction === 'request' ? 413 : 500;
    this.note(a, `${direction} body over ${this.ctx.maxBufferedBytes} bytes buffered`);
    this.ctx.logger.warn(
      { filter: a.filter.name, requestId: this.requestId, limit: this.ctx.maxBufferedBytes },
      `filter buffered more ${direction} body than allowed`,
    );
    a.stream.takeBody(direction); // release the memory now
    const body = new TextEncoder().encode(
      direction === 'request' ? 'Payload Too Large\n' : 'Internal Server Error\n',
    );
    return {
      outcome: {
        kind: 'local',
        filter: a.filter.name,
        response: { status, details: 'buffer_overflow', body, headers: [], grpcStatus: -1 },
      },
      data: EMPTY,
    };
  }

  /** The last chunk: filters may pause on it (e.g. for an http call) and resume later. */
  private async finalBody(direction: Direction, chunk: Uint8Array): Promise<BodyResult> {
    const list = this.ordered(direction);
    let step = this.bodyFrom(direction, list, 0, chunk, true);
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

  /**
   * Streams a body through the chain with one chunk of read-ahead, so the last chunk is delivered with
   * end_of_stream set. Chunks before the last run synchronously in the 'data' handler (no promise per
   * chunk); backpressure pauses the source. Headers are flushed with the first bytes that leave the
   * chain: if that is the whole body it gets an exact content-length, otherwise it is sent chunked.
   */
  private pump(
    direction: Direction,
    source: Readable,
    sink: ClientRequest | ServerResponse,
  ): Promise<Outcome> {
    return new Promise<Outcome>((resolve, reject) => {
      let prev: Uint8Array | undefined;
      let first = true;
      let settled = false;
      const settle = (outcome: Outcome): void => {
        if (settled) return;
        settled = true;
        source.off('data', onData);
        if (outcome.kind !== 'continue') source.resume(); // drain what is left, it goes nowhere
        resolve(outcome);
      };
      const forward = (data: Uint8Array, eos: boolean): boolean => {
        if (first && (data.length > 0 || eos)) {
          first = false;
          // Trailers need chunked encoding, so only a trailer-less body gets a content-length.
          if (eos && (source as IncomingMessage).rawTrailers.length === 0)
            sink.setHeader('content-length', data.length);
        }
        return data.length > 0 ? sink.write(data) : true;
      };
      const onData = (chunk: Uint8Array): void => {
        const ready = prev;
        prev = chunk;
        if (ready === undefined || settled) return;
        try {
          const step = this.bodyFrom(direction, this.ordered(direction), 0, ready, false);
          if ('waitAt' in step) return; // not reachable before end of stream
          if (step.outcome.kind !== 'continue') return settle(step.outcome);
          if (!forward(step.data, false)) {
            source.pause();
            sink.once('drain', () => source.resume());
          }
        } catch (err) {
          settled = true;
          reject(err);
        }
      };
      source.on('data', onData);
      source.once('error', () => settle({ kind: 'reset', filter: '' }));
      source.once('end', () => {
        if (settled) return;
        this.finalBody(direction, prev ?? EMPTY)
          .then(async ({ outcome, data }) => {
            if (outcome.kind !== 'continue') return settle(outcome);
            forward(data, true);
            await this.trailersPhase(direction, source, sink);
            settle(CONTINUE);
          })
          .catch((err: unknown) => {
            settled = true;
            reject(err);
          });
      });
    });
  }

  private async trailersPhase(
    direction: Direction,
    source: Readable,
    sink: ClientRequest | ServerResponse,
  ): Promise<void> {
    const raw = (source as IncomingMessage).rawTrailers ?? [];
    const trailers = trailerPairs(raw);
    if (trailers.length > 0) {
      for (const a of this.ordered(direction)) {
        if (!this.active.includes(a)) continue;
        try {
          let d: string =
            direction === 'request'
              ? a.stream.requestTrailers(trailers)
              : a.stream.responseTrailers(trailers);
          if (d === 'pause') d = await a.stream.waitResume(direction);
          const outcome = this.outcomeOf(a, d);
          if (outcome.kind !== 'continue') return this.conclude(outcome);
        } catch (err) {
          this.policy(a.filter, err);
        }
      }
      if (trailers.length > 0 && !sink.headersSent)
        sink.setHeader('trailer', trailers.map(([k]) => k).join(', '));
      sink.addTrailers(headerRecord(trailers));
    }
    sink.end();
  }

  private async onResponse(ures: IncomingMessage): Promise<void> {
    if (this.done) {
      ures.resume();
      return;
    }
    const pairs = responsePairs(ures);
    const status = ures.statusCode ?? 502;
    const eos =
      this.req.method === 'HEAD' ||
      status === 204 ||
      status === 304 ||
      ures.headers['content-length'] === '0';
    const outcome = await this.headersPhase('response', pairs, eos);
    if (outcome.kind !== 'continue') {
      ures.resume();
      return this.conclude(outcome);
    }
    const { res } = this;
    res.statusCode = Number(pseudo(pairs, ':status') ?? status);
    const filtersReadBody =
      this.active.some((a) => a.stream.wantsBody('response')) || ures.headers.trailer !== undefined;
    applyHeaders(res, filtersReadBody && !eos ? pairs.filter(([k]) => k !== 'content-length') : pairs);
    if (eos) {
      ures.resume();
      res.end();
    } else if (!filtersReadBody) {
      ures.pipe(res);
    } else {
      const result = await this.pump('response', ures, res);
      if (result.kind !== 'continue') this.conclude(result);
    }
  }

  private onUpstreamError(err: Error): void {
    if (this.done) return;
    this.ctx.logger.warn(
      { err: err.message, upstream: this.ctx.upstream.origin, requestId: this.requestId },
      'upstream request failed',
    );
    if (this.res.headersSent) {
      this.res.destroy();
      return;
    }
    this.res.writeHead(502, { 'content-type': 'text/plain' }).end(`upstream connect error: ${err.message}\n`);
  }

  /** A local response or reset ends the exchange: the upstream side is abandoned. */
  private conclude(outcome: Outcome): void {
    this.upstreamReq?.destroy();
    this.upstreamReq = undefined;
    if (outcome.kind === 'reset' || this.res.headersSent) {
      this.res.destroy();
      return;
    }
    if (outcome.kind !== 'local') return;
    const pairs = localPairs(outcome.response);
    if (this.replyingLocally) {
      // A filter answered locally while the chain was encoding a local reply: send it as it is.
      this.writeLocal(pairs, outcome.response.body);
      return;
    }
    this.replyingLocally = true;
    void this.localReply(pairs, outcome.response.body).catch((err: unknown) => this.abortWith(err));
  }

  /** Like Envoy, a local reply is encoded through the chain's response side, so every filter sees it. */
  private async localReply(pairs: HeaderPairs, body: Uint8Array): Promise<void> {
    for (const a of this.active) a.stream.clearLocalResponse();
    const outcome = await this.headersPhase('response', pairs, body.length === 0);
    if (outcome.kind !== 'continue') return this.conclude(outcome);
    let data = body;
    if (body.length > 0) {
      const result = await this.finalBody('response', body);
      if (result.outcome.kind !== 'continue') return this.conclude(result.outcome);
      data = result.data;
    }
    this.writeLocal(pairs, data);
  }

  private writeLocal(pairs: HeaderPairs, body: Uint8Array): void {
    if (this.res.headersSent || this.res.destroyed) return;
    const record = headerRecord(pairs);
    record['content-length'] = String(body.length);
    this.res.writeHead(Number(pseudo(pairs, ':status') ?? 500), record).end(body);
  }

  private abortWith(err: unknown): void {
    this.upstreamReq?.destroy();
    if (err instanceof FailClosed) {
      if (this.res.headersSent) this.res.destroy();
      else this.res.writeHead(503, { 'content-type': 'text/plain' }).end(`${err.message}\n`);
      return;
    }
    if (this.res.headersSent) {
      this.ctx.logger.error(
        { err: describeError(err), requestId: this.requestId },
        'request failed inside the sidecar',
      );
      this.res.destroy();
      return;
    }
    for (const name of this.res.getHeaderNames()) this.res.removeHeader(name);
    // Node refuses header names/values (or paths) that are not valid HTTP: only a filter can have made them.
    const code = (err as NodeJS.ErrnoException | undefined)?.code ?? '';
    if (/^ERR_(INVALID_CHAR|INVALID_HTTP_TOKEN|HTTP_INVALID_HEADER_VALUE|UNESCAPED_CHARACTERS)$/.test(code)) {
      const filters = this.active.map((a) => a.filter.name);
      this.ctx.logger.error(
        { err: describeError(err), filters, requestId: this.requestId },
        'a filter produced an invalid HTTP message',
      );
      this.res
        .writeHead(502, { 'content-type': 'text/plain' })
        .end(
          `a filter produced an invalid HTTP message (${describeError(err)}); filters: ${filters.join(', ')}\n`,
        );
      return;
    }
    this.ctx.logger.error(
      { err: describeError(err), requestId: this.requestId },
      'request failed inside the sidecar',
    );
    this.res.writeHead(500, { 'content-type': 'text/plain' }).end('internal error in the meshwasm sidecar\n');
  }

  /** Stream end: every filter gets on_done/on_log/on_delete; one log line per request. */
  private finish(): void {
    if (this.done) return;
    this.done = true;
    for (const a of this.active) {
      // A filter still paused (say, waiting for an http call) is released, so nothing waits forever.
      a.stream.state.resumeAll('reset');
      a.stream.finish();
    }
    if (!this.res.writableFinished) this.upstreamReq?.destroy();
    this.ctx.logger.info(
      {
        method: this.req.method,
        path: this.req.url,
        status: this.res.statusCode,
        ms: Number(process.hrtime.bigint() - this.started) / 1e6,
        filters: this.decisions,
        requestId: this.requestId,
        ...(this.res.writableFinished ? {} : { aborted: true }),
      },
      'request',
    );
  }
}
