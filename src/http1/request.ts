/**
 * One request to a server on a pooled connection, and the reading of its response: the sidecar's requests
 * to its upstream and the registry client's (src/oci/remote/transport.ts). The request is written as the
 * caller gives it: the head when asked (flushHeaders) or with the first body bytes,
 * the body framed by the content-length its headers carry (checked: a body that does not match it is
 * an error, never sent on to desynchronise the connection) or chunked. The response head is parsed
 * (head.ts), 1xx interim responses are skipped, and the body is decoded per read and handed to
 * Http1Response. The connection goes back to the pool only after a complete exchange that both
 * sides framed and neither asked to close.
 *
 * Events: 'response' (Http1Response), 'error' (Error: nothing of a response arrived), 'drain'.
 */
import { EventEmitter } from 'node:events';
import { ChunkedDecoder, lastChunk, writeChunk } from './chunked.js';
import type { Connection, ConnectionOwner } from './connection.js';
import { headEnd, MalformedResponse, MAX_HEAD_BYTES, parseResponseHead, type Framing } from './head.js';
import { Http1Response } from './response.js';
import { checkHeader, invalid, TOKEN } from './validate.js';

export interface Http1RequestOptions {
  method: string;
  path: string;
  /** Lower-case names (as headerRecord makes them); `host` is the caller's to set. */
  headers: Record<string, string | string[]>;
  /** the request fails (ETIMEDOUT) when its connection makes no progress for this long (default: never) */
  idleTimeoutMs?: number;
}

/** The connections a request may take and give back (Http1Pool). */
export interface ConnectionSource {
  acquire(fresh: boolean): Connection;
  release(connection: Connection): void;
  /** who the server is, for messages ("the upstream", "the registry") */
  readonly peer: string;
}

// What Node's own client refuses in a path (spaces, control characters, anything above latin1).
const BAD_PATH = /[^\u0021-\u00ff]/;
// Methods whose requests Node's client (and so the sidecar before) sent with content-length: 0 when empty.
const BODYLESS = new Set(['GET', 'HEAD', 'DELETE', 'OPTIONS', 'TRACE', 'CONNECT']);
const EMPTY: Uint8Array[] = [];

/** Keeps the socket's error (and its code: ECONNREFUSED, a certificate error) under a clearer message. */
function withCause(err: Error, cause: Error | undefined): Error {
  if (!cause) return err;
  const code = (cause as { code?: unknown }).code;
  return Object.assign(err, { cause }, typeof code === 'string' ? { code } : {});
}

export class Http1Request extends EventEmitter implements ConnectionOwner {
  private connection: Connection;
  private readonly headers: Record<string, string | string[]>;
  private headSent = false;
  private ended = false;
  private isDestroyed = false;
  /** Request body framing, fixed when the head is written. */
  private bodyFraming: 'none' | 'length' | 'chunked' = 'none';
  private declared = 0;
  private written = 0;
  /** Body bytes went out on the current connection (a stale connection can then not be retried). */
  private bodyStarted = false;
  private trailers: Record<string, string | string[]> | undefined;
  // Reading the response.
  private state: 'head' | 'body' | 'done' = 'head';
  private headBytes: Buffer | undefined;
  private framing: Framing = { kind: 'none' };
  private left = 0;
  private decoder: ChunkedDecoder | undefined;
  private response: Http1Response | undefined;
  private reusable = false;
  private readonly onDrain = (): void => void this.emit('drain');

  constructor(
    private readonly pool: ConnectionSource,
    private readonly options: Http1RequestOptions,
  ) {
    super();
    if (!TOKEN.test(options.method))
      throw invalid('ERR_INVALID_HTTP_TOKEN', `invalid method ${options.method}`);
    if (BAD_PATH.test(options.path))
      throw invalid('ERR_UNESCAPED_CHARACTERS', 'Request path contains unescaped characters');
    for (const [name, value] of Object.entries(options.headers)) checkHeader(name, value);
    this.headers = { ...options.headers };
    this.connection = this.attach(pool.acquire(false));
  }

  get headersSent(): boolean {
    return this.headSent;
  }
  get destroyed(): boolean {
    return this.isDestroyed;
  }
  get writableEnded(): boolean {
    return this.ended;
  }

  hasHeader(name: string): boolean {
    return this.headers[name.toLowerCase()] !== undefined;
  }

  setHeader(name: string, value: string | number): void {
    if (this.headSent) throw invalid('ERR_HTTP_HEADERS_SENT', 'Cannot set headers after they are sent');
    this.headers[name.toLowerCase()] = String(value);
  }

  addTrailers(trailers: Record<string, string | string[]>): void {
    this.trailers = trailers;
  }

  flushHeaders(): void {
    if (!this.isDestroyed) this.sendHead();
  }

  write(chunk: Uint8Array): boolean {
    if (this.isDestroyed || this.ended) return true; // the exchange is over: the bytes go nowhere
    const socket = this.connection.socket;
    socket.cork();
    this.sendHead();
    let ok = true;
    if (chunk.length > 0) ok = this.writeBody(chunk);
    socket.uncork();
    return ok;
  }

  end(chunk?: Uint8Array): void {
    if (this.isDestroyed || this.ended) return;
    const socket = this.connection.socket;
    this.ended = true; // before the head: an empty POST gets content-length: 0 (sendHead)
    socket.cork();
    this.sendHead();
    if (chunk && chunk.length > 0) this.writeBody(chunk);
    if (this.bodyFraming === 'length' && this.written !== this.declared) {
      socket.uncork();
      return this.fail(
        new Error(`the request body (${this.written} bytes) is shorter than its content-length`),
      );
    }
    if (this.bodyFraming === 'chunked') socket.write(lastChunk(this.trailers));
    socket.uncork();
    if (this.state === 'done') this.settle();
  }

  destroy(): void {
    if (this.isDestroyed) return;
    this.isDestroyed = true;
    this.response?.discard();
    this.detach().socket.destroy();
  }

  // ConnectionOwner: the response, read by read.

  onData(chunk: Buffer): void {
    if (this.state === 'body') return this.onBody(chunk);
    if (this.state === 'done') return this.protocolError(); // more than the response said it had
    let bytes = chunk;
    if (this.headBytes) bytes = Buffer.concat([this.headBytes, chunk]);
    for (;;) {
      const end = headEnd(bytes);
      if ((end < 0 ? bytes.length : end) > MAX_HEAD_BYTES)
        return this.malformed(
          new MalformedResponse(`the response head is larger than ${MAX_HEAD_BYTES} bytes`),
        );
      if (end < 0) {
        this.headBytes = bytes;
        return;
      }
      this.headBytes = undefined;
      let head;
      try {
        head = parseResponseHead(bytes.toString('latin1', 0, end), this.options.method);
      } catch (err) {
        return this.malformed(err as Error);
      }
      bytes = bytes.subarray(end);
      if (head.statusCode === 101)
        return this.malformed(
          new MalformedResponse(`${this.pool.peer} switched protocols (101); upgrades are not proxied`),
        );
      if (head.statusCode < 200) {
        if (bytes.length === 0) return; // an interim response (100 Continue, 103): the real one follows
        continue;
      }
      this.framing = head.framing;
      this.reusable = head.keepAlive;
      if (head.framing.kind === 'length') this.left = head.framing.length;
      if (head.framing.kind === 'chunked') this.decoder = new ChunkedDecoder();
      const connection = this.connection;
      // Only while the connection is this request's: once it is back in the pool it is another's.
      this.response = new Http1Response(head, {
        pause: () => void (connection.owner === this && connection.socket.pause()),
        resume: () => void (connection.owner === this && connection.socket.resume()),
      });
      this.state = 'body';
      this.emit('response', this.response);
      if (this.isDestroyed) return;
      if (head.framing.kind === 'none' || (head.framing.kind === 'length' && this.left === 0)) {
        if (bytes.length > 0) this.reusable = false;
        return this.complete(EMPTY);
      }
      if (bytes.length > 0) this.onBody(bytes);
      return;
    }
  }

  onEnd(): void {
    if (this.state === 'body' && this.framing.kind === 'close') return this.complete(EMPTY);
    this.onClose(undefined);
  }

  onClose(err: Error | undefined): void {
    if (this.isDestroyed || this.state === 'done') return;
    this.detach();
    if (this.state === 'head') {
      // A connection the server closed while it sat in the pool: try once more on a new one, if no
      // byte of the body went out (it cannot be sent again) and nothing of a response came back.
      if (this.connection.uses > 1 && !this.bodyStarted && !this.headBytes) return this.retry();
      this.isDestroyed = true;
      const why = err ? err.message : `${this.pool.peer} closed the connection before it sent a response`;
      this.emit('error', withCause(new Error(why), err));
      return;
    }
    const expected =
      this.framing.kind === 'length' ? `${this.left} more bytes of the body` : 'the rest of the chunked body';
    this.isDestroyed = true;
    this.response!.fail(
      withCause(
        new Error(
          `${this.pool.peer} ${err ? `connection failed (${err.message})` : 'closed the connection'} before ${expected}`,
        ),
        err,
      ),
    );
  }

  private onBody(chunk: Buffer): void {
    const pieces: Uint8Array[] = [];
    let done = false;
    if (this.framing.kind === 'length') {
      const n = Math.min(this.left, chunk.length);
      pieces.push(n === chunk.length ? chunk : chunk.subarray(0, n));
      this.left -= n;
      done = this.left === 0;
      if (n < chunk.length) this.reusable = false; // bytes past the body: the connection is not in step
    } else if (this.framing.kind === 'chunked') {
      let end: number;
      try {
        end = this.decoder!.decode(chunk, pieces);
      } catch (err) {
        return this.bodyError(err as Error);
      }
      done = end >= 0;
      if (done) {
        this.response!.rawTrailers = this.decoder!.rawTrailers;
        if (end < chunk.length) this.reusable = false;
      }
    } else pieces.push(chunk);
    if (done) this.complete(pieces);
    else this.response!.push(pieces, false);
  }

  private complete(pieces: Uint8Array[]): void {
    this.state = 'done';
    this.response!.push(pieces, true);
    if (this.ended || this.isDestroyed) this.settle();
    // Otherwise the request is still being sent: the connection is settled when it ends.
  }

  /** Both directions are over: the connection goes back to the pool or is closed. */
  private settle(): void {
    if (this.isDestroyed) return;
    const connection = this.detach();
    this.isDestroyed = true;
    const close = String(this.headers.connection ?? '')
      .toLowerCase()
      .includes('close');
    if (this.reusable && !close && !connection.socket.destroyed) this.pool.release(connection);
    else connection.socket.destroy();
  }

  private malformed(err: Error): void {
    this.detach().socket.destroy();
    this.isDestroyed = true;
    this.emit('error', Object.assign(err, { malformed: true }));
  }

  private bodyError(err: Error): void {
    this.detach().socket.destroy();
    this.isDestroyed = true;
    this.response!.fail(err);
  }

  private protocolError(): void {
    this.reusable = false;
    if (this.ended) this.settle();
  }

  private fail(err: Error): void {
    if (this.response) this.response.fail(err);
    else this.emit('error', err);
    this.isDestroyed = true;
    this.detach().socket.destroy();
  }

  private retry(): void {
    this.connection = this.attach(this.pool.acquire(true));
    const wasSent = this.headSent;
    this.headSent = false;
    if (!wasSent) return;
    const socket = this.connection.socket;
    socket.cork();
    this.sendHead();
    if (this.ended && this.bodyFraming === 'chunked') socket.write(lastChunk(this.trailers));
    socket.uncork();
  }

  onTimeout(): void {
    const ms = this.options.idleTimeoutMs;
    const timeout = Object.assign(new Error(`no progress for ${ms} ms`), { code: 'ETIMEDOUT' });
    this.connection.socket.destroy(timeout); // reported through onClose, with the error
  }

  private attach(connection: Connection): Connection {
    connection.owner = this;
    connection.socket.on('drain', this.onDrain);
    if (this.options.idleTimeoutMs) connection.socket.setTimeout(this.options.idleTimeoutMs);
    return connection;
  }

  private detach(): Connection {
    const connection = this.connection;
    if (connection.owner === this) connection.owner = undefined;
    connection.socket.off('drain', this.onDrain);
    return connection;
  }

  private writeBody(chunk: Uint8Array): boolean {
    const socket = this.connection.socket;
    this.bodyStarted = true;
    if (this.bodyFraming === 'none') {
      this.fail(new Error('a request body was written for a request whose headers declare none'));
      return true;
    }
    if (this.bodyFraming === 'length') {
      this.written += chunk.length;
      if (this.written > this.declared) {
        this.fail(new Error(`the request body is longer than its content-length (${this.declared})`));
        return true;
      }
      return socket.write(chunk);
    }
    return writeChunk(socket, chunk);
  }

  private sendHead(): void {
    if (this.headSent) return;
    this.headSent = true;
    const headers = this.headers;
    const length = headers['content-length'];
    const coding = headers['transfer-encoding'];
    if (coding !== undefined && String(coding).toLowerCase().includes('chunked')) {
      this.bodyFraming = 'chunked';
      delete headers['content-length'];
    } else if (length !== undefined) {
      this.bodyFraming = 'length';
      this.declared = Number(length);
    } else if (this.ended && !BODYLESS.has(this.options.method)) {
      headers['content-length'] = '0';
    }
    let text = `${this.options.method} ${this.options.path} HTTP/1.1\r\n`;
    for (const [name, value] of Object.entries(headers))
      for (const v of Array.isArray(value) ? value : [value]) text += `${name}: ${v}\r\n`;
    this.connection.socket.write(`${text}\r\n`, 'latin1');
  }
}
