/**
 * Moves one request/response between the client and the upstream, asking the stream's filter chain
 * (StreamChain) at each step what to forward. Bodies are piped when no filter reads them, otherwise
 * streamed chunk by chunk through the chain (body-pump.ts). Headers leave as soon as the chain
 * continues them, with the framing they say (never an invented content-length); only when they carry
 * a content-length and a filter reads the body do they wait for the first bytes the chain releases,
 * so a filter that buffers and replaces the body gets a length that matches it. Local replies are encoded through the chain like Envoy's;
 * a fail-closed filter's failure becomes a 503 (or a reset once the response has started). Nothing
 * here throws into the server.
 */
import { randomUUID } from 'node:crypto';
import { describeError } from '../errors.js';
import type { HeaderPairs, LocalResponse } from '../runtime/index.js';
import { flushHeadersSoon, pipeBody, pumpBody } from './body-pump.js';
import type { Http1Pool } from '../http1/pool.js';
import type { Http1Request } from '../http1/request.js';
import type { Http1Response } from '../http1/response.js';
import type { ServerReply } from '../http1/reply.js';
import type { ServerRequest } from '../http1/server.js';
import { FailClosed, StreamChain, type ChainSettings, type Outcome } from './stream-chain.js';
import { SocketStreamInfo } from './stream-info.js';
import { applyHeaders, headerRecord, pseudo, requestPairs, responsePairs } from './headers.js';

const hasLength = (pairs: HeaderPairs): boolean => pairs.some(([k]) => k === 'content-length');

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
  pool: Http1Pool;
}

export class Exchange {
  private upstreamReq: Http1Request | undefined;
  private readonly started = process.hrtime.bigint();
  private readonly requestId = randomUUID();
  private done = false;
  private replyingLocally = false;
  private readonly chain: StreamChain;

  constructor(
    private readonly ctx: ExchangeContext,
    private readonly req: ServerRequest,
    private readonly res: ServerReply,
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
    const readBody = hasBody && (this.chain.wantsBody('request') || req.headers.trailer !== undefined);
    // Framing is what the headers say once the filters are done with them: a length the client (or a
    // filter) set is kept, and without one the body goes chunked (set explicitly: Node would not chunk
    // a GET). Trailers need chunked encoding.
    if (hasBody && req.headers.trailer !== undefined) delete headers['content-length'];
    if (hasBody && headers['content-length'] === undefined) headers['transfer-encoding'] = 'chunked';
    const hold = readBody && headers['content-length'] !== undefined;
    const ureq = this.ctx.pool.request({ path, method: pseudo(pairs, ':method') ?? 'GET', headers });
    this.upstreamReq = ureq;
    ureq.on('response', (ures: Http1Response) => {
      ures.onFail = (err) => this.onUpstreamBodyError(err);
      this.onResponse(ures).catch((err) => this.abortWith(err));
    });
    ureq.on('error', (err: Error) => this.onUpstreamError(err));

    if (!hasBody) {
      ureq.end();
      return;
    }
    if (!hold) flushHeadersSoon(ureq);
    if (!readBody) pipeBody(req.body, ureq);
    else {
      const pumped = pumpBody(this.chain, 'request', req.body, ureq, hold);
      const result = pumped instanceof Promise ? await pumped : pumped;
      if (result.kind !== 'continue') this.conclude(result);
    }
  }

  /** One stream context per filter; load failures and VM start failures apply the filter's policy. */
  private openStreams(): void | Promise<void> {
    if (this.ctx.filters.length === 0) return; // nothing to open, nobody to ask for connection facts
    const info = new SocketStreamInfo(this.req.socket, `HTTP/${this.req.httpVersion}`, this.requestId);
    return this.chain.open(info); // a promise only when a VM had to be started
  }

  private async onResponse(ures: Http1Response): Promise<void> {
    if (this.done) {
      ures.discard();
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
      ures.discard();
      return this.conclude(outcome);
    }
    const { res } = this;
    res.statusCode = Number(pseudo(pairs, ':status') ?? status);
    const readBody = !eos && (this.chain.wantsBody('response') || ures.headers.trailer !== undefined);
    // The headers as the filters left them: a length the upstream or a filter set goes out as it is,
    // none is ever invented (Node would add one to a body written in one piece), trailers need chunks.
    const framed = ures.headers.trailer !== undefined ? pairs.filter(([k]) => k !== 'content-length') : pairs;
    applyHeaders(res, framed);
    if (eos) {
      ures.discard();
      res.end();
      return;
    }
    const length = hasLength(framed);
    if (!length) res.removeHeader('content-length'); // tells Node not to add one: chunked
    const hold = readBody && length;
    if (!hold) flushHeadersSoon(res);
    if (!readBody) pipeBody(ures, res);
    else {
      const pumped = pumpBody(this.chain, 'response', ures, res, hold);
      const result = pumped instanceof Promise ? await pumped : pumped;
      if (result.kind !== 'continue') this.conclude(result);
    }
  }

  /** Nothing of a response came: 502, saying whether the upstream was unreachable or spoke nonsense. */
  private onUpstreamError(err: Error): void {
    if (this.done) return;
    const malformed = (err as { malformed?: boolean }).malformed === true;
    this.ctx.logger.warn(
      { err: err.message, upstream: this.ctx.upstream.origin, requestId: this.requestId },
      malformed ? 'upstream sent a malformed response' : 'upstream request failed',
    );
    if (this.res.headersSent) {
      this.res.destroy();
      return;
    }
    const text = malformed
      ? `upstream sent a malformed response: ${err.message}`
      : `upstream connect error: ${err.message}`;
    this.res.writeHead(502, { 'content-type': 'text/plain' }).end(`${text}\n`);
  }

  /** The body broke off after the head went out (the client's connection is reset): say why. */
  private onUpstreamBodyError(err: Error): void {
    if (this.done) return;
    this.ctx.logger.warn(
      { err: err.message, upstream: this.ctx.upstream.origin, requestId: this.requestId },
      'upstream response broke off',
    );
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
      const result = await this.chain.body('response', body, true);
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
    // Header names/values, paths or a :status that are not valid HTTP are refused: only a filter can have made them.
    const code = (err as NodeJS.ErrnoException | undefined)?.code ?? '';
    if (
      /^ERR_(INVALID_CHAR|INVALID_HTTP_TOKEN|HTTP_INVALID_HEADER_VALUE|UNESCAPED_CHARACTERS|HTTP_INVALID_STATUS_CODE)$/.test(
        code,
      )
    ) {
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
