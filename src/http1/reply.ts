/**
 * The response a server handler writes (server.ts), with the part of node:http's ServerResponse the
 * sidecar uses: headers until they are sent, the status, writes with backpressure ('drain'), trailers,
 * and 'close' once the response has left (writableFinished) or the connection went first.
 *
 * Framing is what the headers say, as a proxy needs it: a content-length is kept and held to (a body
 * that does not match it resets the connection rather than desynchronise it); transfer-encoding
 * chunked is kept; without either, a response ended before its head was sent gets its length (as
 * node:http does) unless `removeHeader('content-length')` asked for none, and any other goes chunked
 * (HTTP/1.1) or is delimited by closing the connection (HTTP/1.0). HEAD, 1xx, 204 and 304 carry no body.
 */
import { EventEmitter } from 'node:events';
import type { Socket } from 'node:net';
import { lastChunk, writeChunk } from './chunked.js';
import { checkHeader, invalid } from './validate.js';

/** What a reply needs of its connection. */
export interface ReplyChannel {
  readonly socket: Socket;
  /** The request's method and version: HEAD has no body; HTTP/1.0 cannot be chunked. */
  readonly method: string;
  readonly version: '1.0' | '1.1';
  /** Nobody reads the rest of the request's body: the connection closes after the reply. */
  readonly requestAbandoned: boolean;
  /** Seconds the connection stays open between requests (said in keep-alive). */
  readonly keepAliveSeconds: number;
  /** Every byte of the reply was handed to the kernel; `keepAlive`: the connection may carry another. */
  replied(keepAlive: boolean): void;
}

const REASONS: Record<number, string> = {
  100: 'Continue',
  101: 'Switching Protocols',
  103: 'Early Hints',
  200: 'OK',
  201: 'Created',
  202: 'Accepted',
  203: 'Non-Authoritative Information',
  204: 'No Content',
  205: 'Reset Content',
  206: 'Partial Content',
  300: 'Multiple Choices',
  301: 'Moved Permanently',
  302: 'Found',
  303: 'See Other',
  304: 'Not Modified',
  307: 'Temporary Redirect',
  308: 'Permanent Redirect',
  400: 'Bad Request',
  401: 'Unauthorized',
  403: 'Forbidden',
  404: 'Not Found',
  405: 'Method Not Allowed',
  406: 'Not Acceptable',
  408: 'Request Timeout',
  409: 'Conflict',
  410: 'Gone',
  411: 'Length Required',
  412: 'Precondition Failed',
  413: 'Payload Too Large',
  414: 'URI Too Long',
  415: 'Unsupported Media Type',
  416: 'Range Not Satisfiable',
  417: 'Expectation Failed',
  418: "I'm a Teapot",
  421: 'Misdirected Request',
  422: 'Unprocessable Entity',
  425: 'Too Early',
  426: 'Upgrade Required',
  428: 'Precondition Required',
  429: 'Too Many Requests',
  431: 'Request Header Fields Too Large',
  451: 'Unavailable For Legal Reasons',
  500: 'Internal Server Error',
  501: 'Not Implemented',
  502: 'Bad Gateway',
  503: 'Service Unavailable',
  504: 'Gateway Timeout',
  505: 'HTTP Version Not Supported',
};

/** The reason phrase sent for a status (clients ignore it; RFC 9112 lets it be empty). */
function reasonPhrase(status: number): string {
  return REASONS[status] ?? '';
}

// The date header of every response, made at most once a second.
let dateSecond = 0;
let dateText = '';
function httpDate(): string {
  const now = Date.now();
  const second = Math.floor(now / 1000);
  if (second !== dateSecond) {
    dateSecond = second;
    dateText = new Date(now).toUTCString();
  }
  return dateText;
}

type Framing = 'none' | 'length' | 'chunked' | 'close';

const EMPTY = Buffer.alloc(0);

export class ServerReply extends EventEmitter {
  private status = 200;
  /** Whether the connection may carry another request after this one (false: `connection: close`). */
  shouldKeepAlive: boolean;
  /** By lower-case name: the name as given and its value(s). */
  private readonly fields = new Map<string, [string, string | string[]]>();
  private lengthRemoved = false;
  private trailers: Record<string, string | string[]> | undefined;
  private headSent = false;
  private ended = false;
  private finished = false;
  private isDestroyed = false;
  private framing: Framing = 'none';
  private declared = 0;
  private written = 0;
  private keepAlive = false;

  constructor(
    private readonly channel: ReplyChannel,
    keepAlive: boolean,
  ) {
    super();
    this.shouldKeepAlive = keepAlive;
  }

  get statusCode(): number {
    return this.status;
  }

  /** Refuses what is no status (as node:http's writeHead does), before anything reaches the wire. */
  set statusCode(status: number) {
    if (!Number.isInteger(status) || status < 100 || status > 999)
      throw invalid('ERR_HTTP_INVALID_STATUS_CODE', `Invalid status code: ${status}`);
    this.status = status;
  }

  get headersSent(): boolean {
    return this.headSent;
  }
  get writableEnded(): boolean {
    return this.ended;
  }
  get writableFinished(): boolean {
    return this.finished;
  }
  get destroyed(): boolean {
    return this.isDestroyed;
  }

  setHeader(name: string, value: string | number | readonly string[]): this {
    if (this.headSent) throw invalid('ERR_HTTP_HEADERS_SENT', 'Cannot set headers after they are sent');
    const v =
      typeof value === 'number' ? String(value) : Array.isArray(value) ? [...value] : (value as string);
    checkHeader(name, v);
    this.fields.set(name.toLowerCase(), [name, v]);
    return this;
  }

  getHeader(name: string): string | string[] | undefined {
    return this.fields.get(name.toLowerCase())?.[1];
  }

  hasHeader(name: string): boolean {
    return this.fields.has(name.toLowerCase());
  }

  getHeaderNames(): string[] {
    return [...this.fields.keys()];
  }

  removeHeader(name: string): void {
    if (this.headSent) throw invalid('ERR_HTTP_HEADERS_SENT', 'Cannot remove headers after they are sent');
    const key = name.toLowerCase();
    if (key === 'content-length') this.lengthRemoved = true;
    this.fields.delete(key);
  }

  writeHead(status: number, headers?: Record<string, string | number | readonly string[]>): this {
    if (this.headSent) throw invalid('ERR_HTTP_HEADERS_SENT', 'Cannot write headers after they are sent');
    this.statusCode = status;
    for (const [name, value] of Object.entries(headers ?? {})) this.setHeader(name, value);
    return this;
  }

  addTrailers(trailers: Record<string, string | string[]>): void {
    for (const [name, value] of Object.entries(trailers)) checkHeader(name, value);
    this.trailers = trailers;
  }

  flushHeaders(): void {
    if (!this.isDestroyed && !this.headSent) this.sendHead(undefined);
  }

  write(chunk: Uint8Array): boolean {
    if (this.isDestroyed || this.ended) return true; // the exchange is over: the bytes go nowhere
    // The body of a large response: one write, nothing to gather (corking would only add a step).
    if (this.headSent && chunk.length > 0 && (this.framing === 'length' || this.framing === 'close'))
      return this.writeBody(chunk) && !this.isDestroyed;
    const socket = this.channel.socket;
    socket.cork();
    if (!this.headSent) this.sendHead(undefined);
    const ok = chunk.length > 0 ? this.writeBody(chunk) : true;
    socket.uncork();
    return ok && !this.isDestroyed;
  }

  end(chunk?: Uint8Array | string): this {
    if (this.isDestroyed || this.ended) return this;
    const body = typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
    this.ended = true;
    const socket = this.channel.socket;
    socket.cork();
    if (!this.headSent) this.sendHead(body?.length ?? 0);
    if (body && body.length > 0) this.writeBody(body);
    if (this.isDestroyed) return this;
    if (this.framing === 'length' && this.written !== this.declared) {
      socket.uncork();
      this.destroy(); // the client would wait for bytes that never come, or read ours as the next response
      return this;
    }
    const last = this.framing === 'chunked' ? lastChunk(this.trailers) : EMPTY;
    socket.write(last, (err) => {
      if (err) return;
      this.finished = true;
      this.channel.replied(this.keepAlive);
      this.emit('finish');
      this.emit('close');
    });
    socket.uncork();
    return this;
  }

  /** Resets the connection (the client sees the response break off, or no response at all). */
  destroy(): void {
    if (this.isDestroyed) return;
    this.isDestroyed = true;
    this.channel.socket.destroy();
  }

  /** From the connection: it closed before the reply had left. */
  aborted(): void {
    if (this.finished) return;
    this.isDestroyed = true;
    this.emit('close');
  }

  private writeBody(chunk: Uint8Array): boolean {
    const socket = this.channel.socket;
    switch (this.framing) {
      case 'none':
        return true; // HEAD, 204, 304: what a handler writes is not sent
      case 'length':
        this.written += chunk.length;
        if (this.written > this.declared) {
          this.destroy();
          return true;
        }
        return socket.write(chunk);
      case 'chunked':
        return writeChunk(socket, chunk);
      case 'close':
        return socket.write(chunk);
    }
  }

  /** `endLength`: the response ends with the head and this many body bytes (known only then). */
  private sendHead(endLength: number | undefined): void {
    this.headSent = true;
    const { method, version } = this.channel;
    const status = this.statusCode;
    const fields = this.fields;
    const coding = fields.get('transfer-encoding')?.[1];
    if (status < 200 || status === 204 || status === 304) this.framing = 'none';
    else if (fields.has('content-length')) {
      this.framing = method === 'HEAD' ? 'none' : 'length';
      this.declared = Number(fields.get('content-length')![1]);
    } else if (coding !== undefined) {
      const chunked = String(coding).toLowerCase().trim().endsWith('chunked');
      this.framing = method === 'HEAD' ? 'none' : chunked ? 'chunked' : 'close';
    } else if (method === 'HEAD') this.framing = 'none';
    else if (endLength !== undefined && !this.lengthRemoved) {
      this.framing = 'length';
      this.declared = endLength;
      fields.set('content-length', ['content-length', String(endLength)]);
    } else if (version === '1.1') {
      this.framing = 'chunked';
      fields.set('transfer-encoding', ['transfer-encoding', 'chunked']);
    } else this.framing = 'close';
    const own = fields.get('connection')?.[1];
    const closeAsked = own !== undefined && /\bclose\b/i.test(String(own));
    this.keepAlive =
      this.shouldKeepAlive && this.framing !== 'close' && !closeAsked && !this.channel.requestAbandoned;
    let text = `HTTP/1.1 ${status} ${reasonPhrase(status)}\r\n`;
    for (const [name, value] of fields.values())
      for (const v of Array.isArray(value) ? value : [value]) text += `${name}: ${v}\r\n`;
    if (!fields.has('date')) text += `date: ${httpDate()}\r\n`;
    if (own === undefined)
      text += this.keepAlive
        ? `connection: keep-alive\r\nkeep-alive: timeout=${this.channel.keepAliveSeconds}\r\n`
        : 'connection: close\r\n';
    this.channel.socket.write(`${text}\r\n`, 'latin1');
  }
}
