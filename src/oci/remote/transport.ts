/**
 * The HTTP layer under the registry client: TLS settings, keep-alive connection pools, bounded retries
 * with backoff. It runs on our own HTTP/1.1 client (src/http1, the sidecar's too) rather than node:http
 * or undici: a CLI run or an agent start pays for every module it loads (undici alone took ~95 ms and
 * ~15 MB to load here), and node:http reads a download in 64 KiB pieces, each through its parser and a
 * stream, where src/http1 reads up to 1 MiB at a time (bare GETs of 32 MiB that hash what they receive,
 * fresh processes: 120-135 ms through node:http, 72-97 ms from the socket). What the registry client
 * needs is small: one request at a time per connection, streamed
 * bodies, pooled keep-alive connections. node:tls is loaded by the first https request, so a plain-HTTP
 * registry never pays for it.
 */
import type dns from 'node:dns';
import { readFileSync } from 'node:fs';
import type { LookupFunction } from 'node:net';
import { Readable } from 'node:stream';
import type tls from 'node:tls';
import { MeshwasmError } from '../../errors.js';
import { addressOf, type Endpoint } from '../../http1/connection.js';
import { Http1Pool } from '../../http1/pool.js';
import type { Http1Request } from '../../http1/request.js';
import type { Http1Response } from '../../http1/response.js';

/** How to reach registries: TLS verification is on unless --insecure; plain HTTP only with --plain-http. */
export interface TransportOptions {
  /** plain HTTP to every registry (true), or only to these (host[:port], as references name them) */
  plainHttp?: boolean | readonly string[];
  insecure?: boolean;
  /** PEM bundle added to the trusted CAs (system CAs stay trusted) */
  caFile?: string;
  /** attempts per request for network errors, 5xx and 429 (default 5) */
  maxAttempts?: number;
  /** first backoff delay in ms (default 250), doubled each attempt with full jitter */
  retryBaseMs?: number;
  /** upper bound for any single wait, including Retry-After (default 10 s) */
  retryMaxMs?: number;
  /** told before each retry wait (for logs and metrics) */
  onRetry?: (info: { url: string; attempt: number; waitMs: number; status?: number; error?: string }) => void;
  /** a request (headers or body) that makes no progress for this long fails and is retried (default 5 min) */
  idleTimeoutMs?: number;
}

/** Refuses an address a name resolved to, with the reason (undefined: allowed). */
export type AddressGuard = (address: string) => string | undefined;

export interface HttpRequest {
  method: 'GET' | 'HEAD' | 'PUT' | 'POST' | 'PATCH' | 'DELETE';
  url: string;
  headers?: Record<string, string>;
  /** bytes, or a factory for a fresh stream per attempt (a bare stream would make retries impossible) */
  body?: Uint8Array | string | (() => Readable | Promise<Readable>);
  /**
   * Refuses to connect to an address this returns a reason for (checked on every name resolution).
   * Connections are pooled per guard, so pass the same function for requests that share one.
   */
  refuseAddress?: AddressGuard;
}

export interface HttpResponse {
  status: number;
  headers: Record<string, string>;
  body: Readable;
  url: string;
}

const RETRY_STATUSES = new Set([429, 500, 502, 503, 504]);
const TRANSIENT_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'EPIPE', 'ETIMEDOUT', 'EAI_AGAIN']);

/** Connections idle in a pool this long are closed (registries close theirs after 30-120 s). */
const KEEP_ALIVE_IDLE_MS = 10_000;
const MAX_IDLE_PER_HOST = 32;
/**
 * Socket buffers and response stream buffers of 1 MiB, the size of the client's large reads: a 1 MiB
 * read then passes on without pausing the socket, and an upload's writes rarely wait for a drain.
 */
const BUFFER_BYTES = 1 << 20;

export class Transport {
  readonly options: TransportOptions;
  /** One keep-alive pool per origin (a token realm or a redirect may be another), and per address guard. */
  private readonly pools = new Map<string, Http1Pool>();
  private readonly guardedPools = new WeakMap<AddressGuard, Map<string, Http1Pool>>();
  private readonly allPools = new Set<Http1Pool>();
  private readonly extraCa: string | undefined;
  /** node:tls and its options, loaded by the first https request */
  private tls: { connect: typeof tls.connect; options: tls.ConnectionOptions } | undefined;
  /** node:dns, loaded by the first request with an address guard (token requests) */
  private dns: typeof dns | undefined;

  constructor(options: TransportOptions = {}) {
    this.options = options;
    if (options.caFile) {
      try {
        // Read now, so a bad --ca-file fails before any request; combined with the default CAs later.
        this.extraCa = readFileSync(options.caFile, 'utf8');
      } catch (err) {
        throw new MeshwasmError(
          'CONFIG',
          `cannot read --ca-file ${options.caFile}: ${(err as Error).message}`,
        );
      }
    }
  }

  private poolFor(url: URL, guard: AddressGuard | undefined): Http1Pool {
    const origin = `${url.protocol}//${url.host}`;
    let pools = this.pools;
    if (guard) {
      pools = this.guardedPools.get(guard) ?? new Map<string, Http1Pool>();
      this.guardedPools.set(guard, pools);
    }
    let pool = pools.get(origin);
    if (pool) return pool;
    const https = url.protocol === 'https:';
    const endpoint: Endpoint = {
      ...addressOf(url),
      ...(https ? { tls: this.loadedTls() } : {}),
      ...(guard ? { lookup: guardedLookup(this.dns!, url.host, guard) } : {}),
    };
    pool = new Http1Pool(endpoint, {
      socketBufferBytes: BUFFER_BYTES,
      idleMs: KEEP_ALIVE_IDLE_MS,
      maxIdle: MAX_IDLE_PER_HOST,
      peer: 'the registry',
    });
    pools.set(origin, pool);
    this.allPools.add(pool);
    return pool;
  }

  private async loadTls(): Promise<void> {
    if (this.tls) return;
    const tlsModule = await import('node:tls');
    this.tls = {
      connect: tlsModule.connect,
      options: {
        rejectUnauthorized: !this.options.insecure,
        // Node replaces its default CAs when `ca` is given; keep them alongside the extra ones.
        ...(this.extraCa ? { ca: [...tlsModule.rootCertificates, this.extraCa] } : {}),
      },
    };
  }

  private loadedTls(): NonNullable<Transport['tls']> {
    if (!this.tls) throw new Error('internal: an https request before node:tls was loaded');
    return this.tls;
  }

  /** Whether `registry` is reached over plain HTTP (--plain-http, or a copy's --from/--to-plain-http). */
  isPlainHttp(registry: string): boolean {
    const plain = this.options.plainHttp;
    return plain === true || (Array.isArray(plain) && plain.includes(registry));
  }

  scheme(registry: string): 'http' | 'https' {
    return this.isPlainHttp(registry) ? 'http' : 'https';
  }

  close(): Promise<void> {
    for (const pool of this.allPools) pool.destroy();
    return Promise.resolve();
  }

  /** One request with retries. Responses of any status are returned; only transport failures throw. */
  async send(req: HttpRequest): Promise<HttpResponse> {
    const maxAttempts = this.options.maxAttempts ?? 5;
    for (let attempt = 1; ; attempt++) {
      let response: HttpResponse | undefined;
      let failure: unknown;
      try {
        const body = typeof req.body === 'function' ? await req.body() : req.body;
        if (new URL(req.url).protocol === 'https:') await this.loadTls();
        if (req.refuseAddress) this.dns ??= (await import('node:dns')).default;
        response = await this.once(req, body);
      } catch (err) {
        failure = err;
      }
      const retryable = response ? RETRY_STATUSES.has(response.status) : isTransient(failure);
      if (!retryable || attempt >= maxAttempts) {
        if (response) return response;
        throw ownError(failure) ?? networkError(req.url, failure);
      }
      const wait = this.backoff(attempt, response?.headers['retry-after']);
      this.options.onRetry?.({
        url: req.url,
        attempt,
        waitMs: wait,
        status: response?.status,
        error: failure ? String(errorCode(failure) ?? failure) : undefined,
      });
      response?.body.resume();
      await new Promise((resolve) => setTimeout(resolve, wait));
    }
  }

  /** One exchange: resolves with the response once its head is in; the body streams after. */
  private once(req: HttpRequest, body: Uint8Array | string | Readable | undefined): Promise<HttpResponse> {
    const url = new URL(req.url);
    const headers: Record<string, string> = {};
    for (const [name, value] of Object.entries(req.headers ?? {})) headers[name.toLowerCase()] = value;
    headers.host ??= url.host;
    if (headers['content-length'] === undefined) {
      if (typeof body === 'string' || body instanceof Uint8Array)
        headers['content-length'] = String(Buffer.byteLength(body));
      else if (body instanceof Readable) headers['transfer-encoding'] = 'chunked';
    }
    const pool = this.poolFor(url, req.refuseAddress);
    return new Promise<HttpResponse>((resolve, reject) => {
      let request: Http1Request;
      try {
        request = pool.request({
          method: req.method,
          path: `${url.pathname}${url.search}`,
          headers,
          idleTimeoutMs: this.options.idleTimeoutMs ?? 300_000,
        });
      } catch (err) {
        reject(err as Error);
        return;
      }
      let stream: Readable | undefined;
      request.on('response', (res: Http1Response) => {
        stream = responseStream(res, request);
        resolve({ status: res.statusCode, headers: res.headers, body: stream, url: req.url });
      });
      // Before the response an error rejects; after it, the response stream reports it.
      request.on('error', reject);
      if (body instanceof Readable) {
        body.on('error', (err) => {
          request.destroy();
          if (stream) stream.destroy(err);
          else reject(err);
        });
        request.on('error', () => body.destroy());
        pumpInto(body, request);
      } else request.end(typeof body === 'string' ? Buffer.from(body) : body);
    });
  }

  /** Full-jitter exponential backoff, or the server's Retry-After, each capped. */
  private backoff(attempt: number, retryAfter: string | undefined): number {
    const max = this.options.retryMaxMs ?? 10_000;
    const fromServer = parseRetryAfter(retryAfter);
    if (fromServer !== undefined) return Math.min(fromServer, max);
    const base = this.options.retryBaseMs ?? 250;
    return Math.min(max, Math.random() * base * 2 ** (attempt - 1));
  }
}

/** dns.lookup that fails, before any connection, when an address it finds is refused. */
function guardedLookup(resolver: typeof dns, host: string, refuse: AddressGuard): LookupFunction {
  return (hostname, options, callback) =>
    resolver.lookup(hostname, { ...options, all: true }, (err, addresses) => {
      if (err) return callback(err, '', 0);
      for (const { address } of addresses) {
        const why = refuse(address);
        if (why)
          return callback(
            new MeshwasmError(
              'REGISTRY',
              `refusing to connect to ${host}: it resolves to ${address}, ${why}`,
              {
                hint: 'token requests carry your registry credentials; check the registry and its token service configuration',
              },
            ),
            '',
            0,
          );
      }
      if (options.all)
        return (callback as unknown as (e: null, a: dns.LookupAddress[]) => void)(null, addresses);
      const first = addresses[0]!;
      callback(null, first.address, first.family);
    });
}

export function parseRetryAfter(value: string | undefined): number | undefined {
  if (!value) return undefined;
  if (/^\d+$/.test(value.trim())) return Number(value.trim()) * 1000;
  const date = Date.parse(value);
  return Number.isNaN(date) ? undefined : Math.max(0, date - Date.now());
}

/** The error and the causes under it (a few levels: the socket's error sits under the client's). */
function* causes(err: unknown): Generator<unknown> {
  let e: unknown = err;
  for (let depth = 0; e && depth < 4; depth++) {
    yield e;
    e = (e as { cause?: unknown }).cause;
  }
}

function errorCode(err: unknown): string | undefined {
  for (const e of causes(err)) {
    const code = (e as { code?: unknown }).code;
    if (typeof code === 'string') return code;
  }
  return undefined;
}

/** A MeshwasmError the failure is or carries as its cause (the address guard's refusal, from the socket). */
function ownError(err: unknown): MeshwasmError | undefined {
  for (const e of causes(err)) if (e instanceof MeshwasmError) return e;
  return undefined;
}

function isTransient(err: unknown): boolean {
  const code = errorCode(err);
  return code !== undefined && TRANSIENT_CODES.has(code);
}

function networkError(url: string, err: unknown): MeshwasmError {
  const code = errorCode(err) ?? '';
  const host = new URL(url).host;
  const message = (err as Error)?.message ?? String(err);
  let hint = 'check the registry address and your network';
  if (code === 'ECONNREFUSED') hint = 'is the registry running and listening on that port?';
  else if (/CERT|SELF_SIGNED|UNABLE_TO_VERIFY|ERR_TLS_CERT/i.test(code) || /certificate/i.test(message)) {
    hint =
      'the registry certificate is not trusted: pass its CA with --ca-file, or --insecure to skip verification';
  } else if (code === 'EPROTO' || /wrong version number|packet length too long/i.test(message)) {
    hint = 'the registry does not speak TLS on this port; use --plain-http for a plain HTTP registry';
  } else if (code === 'ENOTFOUND') hint = `the host name ${host} does not resolve`;
  return new MeshwasmError('NETWORK', `cannot reach ${host}: ${code ? `${code} ` : ''}${message}`.trim(), {
    hint,
    cause: err,
  });
}

/**
 * The response body as a stream. The client's pieces go in as they are read (up to 1 MiB each); the
 * socket stops reading while the stream is full and starts again when the consumer reads. Destroying
 * the stream before its end closes the connection (its remaining bytes would desynchronise it).
 */
function responseStream(res: Http1Response, request: Http1Request): Readable {
  const stream = new Readable({
    highWaterMark: BUFFER_BYTES,
    read: () => res.resume(),
    destroy: (err, callback) => {
      request.destroy();
      callback(err);
    },
  });
  res.read({
    data: (chunk) => {
      if (!stream.push(chunk)) res.pause();
    },
    end: () => stream.push(null),
    error: (err) => stream.destroy(err),
  });
  return stream;
}

/** A request body stream into the request, as fast as its connection takes it. */
function pumpInto(body: Readable, request: Http1Request): void {
  body.on('data', (chunk: Buffer) => {
    if (!request.write(chunk)) body.pause();
  });
  request.on('drain', () => body.resume());
  body.once('end', () => request.end());
}
