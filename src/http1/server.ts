/**
 * An HTTP/1.1 server of our own, for the sidecar's listener and the agent's and controller's small
 * endpoints: node:http's server reads every connection 64 KiB at a time through its own parser and
 * streams, and a proxy that relays large request bodies pays for each of those reads. Here a
 * connection is read into our own buffers (read-buffer.ts, up to 1 MiB a read), request heads are
 * parsed by request-head.ts, bodies are decoded per read (content-length, chunked) into an
 * IncomingBody, and the handler answers with a ServerReply (reply.ts).
 *
 * One request at a time per connection: bytes of a pipelined next request wait (the socket paused)
 * until the reply to this one has left. A malformed head gets its 4xx and the connection closes. A
 * reply that finished before its request body did, or that closes the connection, ends with a lingering
 * close: our side is shut, what the client still sends is read and dropped for a moment, so the kernel
 * does not reset the connection (and lose the reply) over unread bytes.
 */
import { createServer, Socket, type AddressInfo, type Server } from 'node:net';
import { ChunkedDecoder } from './chunked.js';
import { headEnd, MAX_HEAD_BYTES } from './head.js';
import { IncomingBody } from './incoming-body.js';
import { ReadBuffer } from './read-buffer.js';
import { ServerReply, type ReplyChannel } from './reply.js';
import { BadRequest, parseRequestHead, type RequestFraming, type RequestHead } from './request-head.js';

export interface Http1ServerOptions {
  /** socket buffer (highWaterMark) of each connection (default: Node's) */
  socketBufferBytes?: number;
  /** an idle keep-alive connection is closed after this long (default 5 s, as node:http) */
  keepAliveTimeoutMs?: number;
  /** a client gets this long to send a whole request head (default 60 s, as node:http) */
  headersTimeoutMs?: number;
  /** told of every request refused before the handler saw it (for the log; the client got its 4xx) */
  onClientError?(err: BadRequest, socket: Socket): void;
}

/** A client's request, with the fields of node:http's IncomingMessage the sidecar reads. */
export class ServerRequest {
  readonly method: string;
  readonly url: string;
  readonly httpVersion: '1.0' | '1.1';
  readonly rawHeaders: string[];
  readonly headers: Record<string, string>;

  constructor(
    head: RequestHead,
    readonly socket: Socket,
    /** the body (empty when the head says there is none), with trailers once it has ended */
    readonly body: IncomingBody,
  ) {
    this.method = head.method;
    this.url = head.target;
    this.httpVersion = head.version;
    this.rawHeaders = head.rawHeaders;
    this.headers = head.headers;
  }
}

export type RequestHandler = (req: ServerRequest, res: ServerReply) => void;

const LINGER_MS = 2000;
/** Bytes of a pipelined request read ahead before the socket stops reading. */
const MAX_AHEAD_BYTES = MAX_HEAD_BYTES;

export class Http1Server {
  private readonly server: Server;
  private readonly connections = new Set<ServerConnection>();
  private closing: Promise<void> | undefined;
  private allClosed: (() => void) | undefined;

  constructor(
    private readonly handler: RequestHandler,
    private readonly options: Http1ServerOptions = {},
  ) {
    this.server = createServer({ pauseOnConnect: true, allowHalfOpen: true }, (raw) => this.accept(raw));
  }

  listen(port: number, host: string): Promise<AddressInfo> {
    return new Promise((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(port, host, () => {
        this.server.off('error', reject);
        resolve(this.server.address() as AddressInfo);
      });
    });
  }

  /** Connections open now (for tests of keep-alive). */
  get connectionCount(): number {
    return this.connections.size;
  }

  /** Stops accepting; resolves once every connection has closed (see closeIdle/closeAll). */
  close(): Promise<void> {
    this.closing ??= new Promise<void>((resolve) => {
      this.server.close();
      this.allClosed = resolve;
      this.closeIdleConnections();
      if (this.connections.size === 0) resolve();
    });
    return this.closing;
  }

  /** Closes connections that wait for a request (a reply in progress finishes first). */
  closeIdleConnections(): void {
    for (const c of this.connections) c.closeIfIdle();
  }

  closeAllConnections(): void {
    for (const c of this.connections) c.socket.destroy();
  }

  private accept(raw: Socket): void {
    const connection = new ServerConnection(raw, this.handler, this.options, {
      gone: (c) => {
        this.connections.delete(c);
        if (this.connections.size === 0) this.allClosed?.();
      },
      closing: () => this.closing !== undefined,
    });
    this.connections.add(connection);
    if (this.closing) connection.closeIfIdle();
  }
}

/**
 * The accepted socket rewrapped so that it reads into our buffers: net's server has no `onread` option,
 * so the handle is taken from the paused socket it made (as net itself wraps accepted handles). Where
 * that is not possible the socket is read through 'data', in Node's own 64 KiB buffers.
 */
function adopt(
  raw: Socket,
  reads: ReadBuffer,
  highWaterMark: number | undefined,
  onBytes: (chunk: Buffer) => void,
): Socket {
  const handle = (raw as unknown as { _handle?: unknown })._handle;
  if (handle && typeof (handle as { readStart?: unknown }).readStart === 'function') {
    (raw as unknown as { _handle: unknown })._handle = null;
    raw.destroy(); // without its handle: only gives back the server's count of connections
    return new Socket({
      handle,
      readable: true,
      writable: true,
      allowHalfOpen: true,
      ...(highWaterMark ? { highWaterMark } : {}),
      onread: {
        buffer: () => reads.current,
        callback: (n: number, buffer: Uint8Array) => {
          onBytes(reads.take(n, buffer as Buffer));
          return true;
        },
      },
    } as ConstructorParameters<typeof Socket>[0]);
  }
  raw.on('data', onBytes);
  raw.resume();
  return raw;
}

class ServerConnection implements ReplyChannel {
  readonly socket: Socket;
  method = 'GET';
  version: '1.0' | '1.1' = '1.1';
  readonly keepAliveSeconds: number;
  private readonly reads = new ReadBuffer();
  private state: 'head' | 'body' | 'replying' | 'closing' = 'head';
  /** A head not complete yet, and when its first byte came. */
  private headBytes: Buffer | undefined;
  private headStarted = 0;
  /** Bytes that came after the current request (a pipelined one), waiting for its reply to leave. */
  private ahead: Buffer[] = [];
  private aheadBytes = 0;
  private body: IncomingBody | undefined;
  private framing: RequestFraming = { kind: 'none' };
  private left = 0;
  private decoder: ChunkedDecoder | undefined;
  private reply: ServerReply | undefined;
  private requestDone = true;
  /** The reply to the current request has left (the request body may still be arriving). */
  private replyFinished = false;
  private served = 0;
  private clientEnded = false;
  private readonly onDrain = (): void => void this.reply?.emit('drain');

  constructor(
    raw: Socket,
    private readonly handler: RequestHandler,
    private readonly options: Http1ServerOptions,
    private readonly server: { gone(c: ServerConnection): void; closing(): boolean },
  ) {
    this.keepAliveSeconds = Math.round((options.keepAliveTimeoutMs ?? 5000) / 1000);
    this.socket = adopt(raw, this.reads, options.socketBufferBytes, (chunk) => this.onBytes(chunk));
    const socket = this.socket;
    socket.setNoDelay(true);
    socket.on('drain', this.onDrain);
    socket.on('end', () => this.onEnd());
    socket.on('timeout', () => this.onTimeout());
    socket.on('error', () => {}); // reported with 'close'
    socket.on('close', () => this.onClose());
    this.waitForHead();
  }

  closeIfIdle(): void {
    if (this.state === 'head' && !this.headBytes) this.socket.destroy();
    else if (this.reply && !this.reply.headersSent) this.reply.shouldKeepAlive = false;
  }

  get requestAbandoned(): boolean {
    return !this.requestDone && this.body?.abandoned === true;
  }

  /**
   * ReplyChannel: every byte of the reply has been handed to the kernel. A request body still being
   * read is waited for (the next request follows it); one nobody reads any more ends the connection.
   */
  replied(keepAlive: boolean): void {
    this.reply = undefined;
    this.replyFinished = true;
    if (!keepAlive || this.clientEnded || this.requestAbandoned) return this.linger();
    if (this.requestDone) return this.next();
    // A handler that answered without reading the body (a 405, say): it is read and dropped, as
    // node:http does, and the next request follows it (onBody).
    const body = this.body!;
    if (!body.hasReader) {
      body.discard();
      if (this.socket.isPaused()) this.socket.resume();
    }
  }

  private waitForHead(): void {
    this.state = 'head';
    this.reads.shrink(); // an idle connection holds 64 KiB, not the 1 MiB a large body needed
    // Before the first request the client gets as long as for a head; between requests, the keep-alive time.
    this.socket.setTimeout(
      this.served === 0
        ? (this.options.headersTimeoutMs ?? 60_000)
        : (this.options.keepAliveTimeoutMs ?? 5000),
    );
  }

  private next(): void {
    if (this.server.closing()) return this.linger(); // the server is closing: no more requests here
    this.waitForHead();
    const ahead = this.ahead;
    this.ahead = [];
    this.aheadBytes = 0;
    if (this.socket.isPaused()) this.socket.resume();
    for (const chunk of ahead) this.onBytes(chunk);
  }

  private onBytes(chunk: Buffer): void {
    if (this.socket.destroyed) return;
    switch (this.state) {
      case 'body':
        return this.onBody(chunk);
      case 'replying':
        this.ahead.push(chunk);
        this.aheadBytes += chunk.length;
        if (this.aheadBytes > MAX_AHEAD_BYTES) this.socket.pause();
        return;
      case 'closing':
        return; // lingering: dropped
      case 'head':
        return this.onHeadBytes(chunk);
    }
  }

  private onHeadBytes(chunk: Buffer): void {
    if (!this.headBytes) this.headStarted = Date.now();
    const bytes = this.headBytes ? Buffer.concat([this.headBytes, chunk]) : chunk;
    const end = headEnd(bytes);
    if ((end < 0 ? bytes.length : end) > MAX_HEAD_BYTES)
      return this.refuse(new BadRequest(431, `the request head is larger than ${MAX_HEAD_BYTES} bytes`));
    const timeout = this.options.headersTimeoutMs ?? 60_000;
    if (Date.now() - this.headStarted > timeout)
      return this.refuse(new BadRequest(408, `the request head took longer than ${timeout} ms`));
    if (end < 0) {
      this.headBytes = bytes;
      return;
    }
    this.headBytes = undefined;
    let head: RequestHead;
    try {
      head = parseRequestHead(bytes.toString('latin1', 0, end));
    } catch (err) {
      if (err instanceof BadRequest) return this.refuse(err);
      throw err;
    }
    this.start(head, bytes.subarray(end));
  }

  private start(head: RequestHead, rest: Buffer): void {
    this.socket.setTimeout(0);
    this.served++;
    this.method = head.method;
    this.version = head.version;
    this.framing = head.framing;
    this.requestDone = head.framing.kind === 'none';
    this.replyFinished = false;
    if (head.framing.kind === 'length') this.left = head.framing.length;
    this.decoder = head.framing.kind === 'chunked' ? new ChunkedDecoder() : undefined;
    const socket = this.socket;
    const body = new IncomingBody({
      pause: () => void (this.body === body && socket.pause()),
      resume: () => void (this.body === body && socket.resume()),
    });
    this.body = body;
    // A request that arrives while the server closes is the connection's last.
    const reply = new ServerReply(this, head.keepAlive && !this.server.closing());
    this.reply = reply;
    // As node:http does without a checkContinue listener (and Envoy by default): the client may go on.
    if (head.expectContinue && !this.requestDone) socket.write('HTTP/1.1 100 Continue\r\n\r\n', 'latin1');
    this.state = this.requestDone ? 'replying' : 'body';
    if (this.requestDone) body.push([], true);
    try {
      this.handler(new ServerRequest(head, socket, body), reply);
    } catch {
      // A handler that throws is a bug of ours; the connection goes, the process stays.
      if (reply.headersSent) reply.destroy();
      else reply.writeHead(500, { 'content-type': 'text/plain' }).end('internal server error\n');
    }
    if (rest.length > 0 && !socket.destroyed) this.onBytes(rest);
  }

  private onBody(chunk: Buffer): void {
    const body = this.body!;
    const pieces: Uint8Array[] = [];
    let used = chunk.length;
    let done = false;
    if (this.framing.kind === 'length') {
      used = Math.min(this.left, chunk.length);
      pieces.push(used === chunk.length ? chunk : chunk.subarray(0, used));
      this.left -= used;
      done = this.left === 0;
    } else {
      let end: number;
      try {
        end = this.decoder!.decode(chunk, pieces);
      } catch (err) {
        // The reply may have started: the connection cannot be trusted to be in step any more.
        body.fail(new Error(`the request's chunked body is malformed: ${(err as Error).message}`));
        this.socket.destroy();
        return;
      }
      done = end >= 0;
      if (done) {
        used = end;
        body.rawTrailers = this.decoder!.rawTrailers;
      }
    }
    if (!done) return body.push(pieces, false);
    this.requestDone = true;
    this.state = 'replying';
    body.push(pieces, true);
    if (used < chunk.length) this.onBytes(chunk.subarray(used));
    if (this.replyFinished && this.state === 'replying') this.next();
  }

  /** Refused before any handler saw it: the status and why, then the connection closes. */
  private refuse(err: BadRequest): void {
    this.options.onClientError?.(err, this.socket);
    this.state = 'replying';
    this.requestDone = true;
    this.method = 'GET'; // whatever the refused head said: the reason goes out as a body
    this.version = '1.1';
    new ServerReply(this, false)
      .writeHead(err.status, { 'content-type': 'text/plain' })
      .end(`${err.message}\n`);
  }

  /** Shuts our side and drops what the client still sends, until it closes or LINGER_MS pass. */
  private linger(): void {
    if (this.state === 'closing') return;
    this.state = 'closing';
    this.ahead = [];
    const socket = this.socket;
    socket.end();
    if (socket.isPaused()) socket.resume();
    socket.setTimeout(0);
    setTimeout(() => socket.destroy(), LINGER_MS).unref();
  }

  private onEnd(): void {
    this.clientEnded = true;
    if (this.state === 'closing') return void this.socket.destroy();
    // A client that ends its side with a request in flight has gone (node:http and Envoy take it so).
    this.socket.destroy();
  }

  private onTimeout(): void {
    if (this.state !== 'head') return;
    if (this.headBytes) this.refuse(new BadRequest(408, 'the request head was not completed in time'));
    else this.socket.destroy();
  }

  private onClose(): void {
    this.state = 'closing';
    if (!this.requestDone)
      this.body?.fail(new Error('the client connection closed before the end of its request body'));
    this.reply?.aborted();
    this.reply = undefined;
    this.server.gone(this);
  }
}
