/**
 * Moves one request/response between the client and the upstream, asking the stream's filter chain
 * (StreamChain) at each step what to forward. Bodies are piped when no filter reads them, otherwise
 * streamed chunk by chunk through the chain. Local replies are encoded through the chain like Envoy's;
 * a fail-closed filter's failure becomes a 503 (or a reset once the response has started). Nothing
 * here throws into the server.
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
import { describeError } from '../errors.js';
import type { Direction, HeaderPairs, LocalResponse, StreamInfo } from '../runtime/index.js';
import {
  CONTINUE,
  FailClosed,
  StreamChain,
  type BodyResult,
  type ChainSettings,
  type Outcome,
} from './stream-chain.js';
import { applyHeaders, headerRecord, pseudo, requestPairs, responsePairs, trailerPairs } from './headers.js';

const EMPTY = new Uint8Array(0);

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

export interface ExchangeContext extends ChainSettings {
  upstream: URL;
  agent: Agent;
}

export class Exchange {
  private upstreamReq: ClientRequest | undefined;
  private readonly started = process.hrtime.bigint();
  private readonly requestId = randomUUID();
  private done = false;
  private replyingLocally = false;
  private readonly chain: StreamChain;

  constructor(
    private readonly ctx: ExchangeContext,
    private readonly req: IncomingMessage,
    private readonly res: ServerResponse,
  ) {
    this.chain = new StreamChain(ctx, this.requestId);
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
    const opening = this.openStreams();
    if (opening) await opening;
    const pairs = requestPairs(req, this.ctx.upstream.host);
    const hasBody =
      req.headers['transfer-encoding'] !== undefined || Number(req.headers['content-length'] ?? 0) > 0;
    const pending = this.chain.headers('request', pairs, !hasBody);
    // Awaiting only a real promise: a filter that answers at once costs no microtask turn.
    const outcome = pending instanceof Promise ? await pending : pending;
    if (outcome.kind !== 'continue') return this.conclude(outcome);
    if (this.done) return; // the client went away while a filter held the request

    // Always the configured upstream: a :path a filter rewrote (even to "//elsewhere/") stays a path on it.
    const rawPath = pseudo(pairs, ':path') ?? '/';
    const path = rawPath.startsWith('/') ? rawPath : `/${rawPath}`;
    const headers = headerRecord(pairs);
    headers.host = pseudo(pairs, ':authority') ?? this.ctx.upstream.host;
    // Piping is cheapest, but it cannot show the body to filters nor carry trailers.
    const filtersReadBody = this.chain.wantsBody('request') || req.headers.trailer !== undefined;
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
  private openStreams(): void | Promise<void> {
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
    return this.chain.open(info); // a promise only when a VM had to be started
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
          const step = this.chain.bodyChunk(direction, ready);
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
      const fail = (err: unknown): void => {
        settled = true;
        reject(err);
      };
      const end = ({ outcome, data }: BodyResult): void | Promise<void> => {
        if (outcome.kind !== 'continue') return settle(outcome);
        if ((source as IncomingMessage).rawTrailers.length === 0) {
          // Headers, the last bytes and the end leave in one write: no trailers to wait for.
          if (first) sink.setHeader('content-length', data.length);
          sink.end(data.length > 0 ? data : undefined);
          return settle(CONTINUE);
        }
        forward(data, true);
        return this.trailersPhase(direction, source, sink).then(() => settle(CONTINUE));
      };
      source.once('end', () => {
        if (settled) return;
        try {
          // Synchronous unless a filter pauses on the last chunk: no promise for the usual case.
          const last = this.chain.lastBody(direction, prev ?? EMPTY);
          const ending = last instanceof Promise ? last.then(end) : end(last);
          if (ending) ending.catch(fail);
        } catch (err) {
          fail(err);
        }
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
      const outcome = await this.chain.trailers(direction, trailers);
      if (outcome.kind !== 'continue') return this.conclude(outcome);
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
    const pending = this.chain.headers('response', pairs, eos);
    const outcome = pending instanceof Promise ? await pending : pending;
    if (outcome.kind !== 'continue') {
      ures.resume();
      return this.conclude(outcome);
    }
    const { res } = this;
    res.statusCode = Number(pseudo(pairs, ':status') ?? status);
    const filtersReadBody = this.chain.wantsBody('response') || ures.headers.trailer !== undefined;
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
    this.chain.clearLocalResponses();
    const outcome = await this.chain.headers('response', pairs, body.length === 0);
    if (outcome.kind !== 'continue') return this.conclude(outcome);
    let data = body;
    if (body.length > 0) {
      const result = await this.chain.lastBody('response', body);
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
      const filters = this.chain.filterNames;
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
    this.chain.finish();
    if (!this.res.writableFinished) this.upstreamReq?.destroy();
    // Under load the level is usually above info: then the line's fields are not even gathered.
    if (!this.ctx.logger.isLevelEnabled('info')) return;
    this.ctx.logger.info(
      {
        method: this.req.method,
        path: this.req.url,
        status: this.res.statusCode,
        ms: Number(process.hrtime.bigint() - this.started) / 1e6,
        filters: this.chain.decisions,
        requestId: this.requestId,
        ...(this.res.writableFinished ? {} : { aborted: true }),
      },
      'request',
    );
  }
}
