/**
 * The HTTP layer under the registry client: TLS settings, keep-alive connection pools, bounded retries
 * with backoff. It runs on node:http and node:https rather than undici: a CLI run or an agent start pays
 * for every module it loads, undici alone took ~95 ms and ~15 MB to load here, and what the registry
 * client needs (one request at a time per socket, streamed bodies, pooled keep-alive sockets) is what
 * Node's own agents do. node:https (and with it node:tls, ~10 ms) is loaded by the first https request,
 * so a plain-HTTP registry never pays for it. bench/cli.ts prints the load cost of each dependency.
 */
import http from 'node:http';
import type https from 'node:https';
import dns from 'node:dns';
import { readFileSync } from 'node:fs';
import type { LookupFunction } from 'node:net';
import { Readable } from 'node:stream';
import { MeshwasmError } from '../../errors.js';

/** How to reach registries: TLS verification is on unless --insecure; plain HTTP only with --plain-http. */
export interface TransportOptions {
  plainHttp?: boolean;
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

export interface HttpRequest {
  method: 'GET' | 'HEAD' | 'PUT' | 'POST' | 'PATCH' | 'DELETE';
  url: string;
  headers?: Record<string, string>;
  /** bytes, or a factory for a fresh stream per attempt (a bare stream would make retries impossible) */
  body?: Uint8Array | string | (() => Readable | Promise<Readable>);
  /** refuses to connect to an address this returns a reason for (checked on every name resolution) */
  refuseAddress?: (address: string) => string | undefined;
}

export interface HttpResponse {
  status: number;
  headers: Record<string, string>;
  body: Readable;
  url: string;
}

const RETRY_STATUSES = new Set([429, 500, 502, 503, 504]);
const TRANSIENT_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'EPIPE', 'ETIMEDOUT', 'EAI_AGAIN']);

/** Sockets idle in the pool this long are closed (registries close theirs after 30-120 s). */
const KEEP_ALIVE_IDLE_MS = 10_000;
const MAX_SOCKETS_PER_HOST = 32;

export class Transport {
  readonly options: TransportOptions;
  /** One keep-alive pool per scheme: a token realm or a redirect may use the other one. */
  private readonly agents: { 'http:'?: http.Agent; 'https:'?: https.Agent } = {};
  private readonly extraCa: string | undefined;
  /** node:https and the default CAs, loaded by the first https request */
  private tls: { https: typeof https; rootCertificates: readonly string[] } | undefined;

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

  private agentFor(protocol: string): http.Agent {
    const pool = {
      keepAlive: true,
      maxSockets: MAX_SOCKETS_PER_HOST,
      // The agent applies this to pooled sockets only; a request in flight has its own idle timeout.
      timeout: KEEP_ALIVE_IDLE_MS,
      scheduling: 'lifo' as const,
    };
    if (protocol === 'http:') return (this.agents['http:'] ??= new http.Agent(pool));
    const tls = this.loadedTls();
    return (this.agents['https:'] ??= new tls.https.Agent({
      ...pool,
      rejectUnauthorized: !this.options.insecure,
      // Node replaces its default CAs when `ca` is given; keep them alongside the extra ones.
      ...(this.extraCa ? { ca: [...tls.rootCertificates, this.extraCa] } : {}),
    }));
  }

  private async loadTls(): Promise<void> {
    if (this.tls) return;
    const [https, { rootCertificates }] = await Promise.all([import('node:https'), import('node:tls')]);
    this.tls = { https: https.default, rootCertificates };
  }

  private loadedTls(): NonNullable<Transport['tls']> {
    if (!this.tls) throw new Error('internal: an https request before node:https was loaded');
    return this.tls;
  }

  scheme(): 'http' | 'https' {
    return this.options.plainHttp ? 'http' : 'https';
  }

  close(): Promise<void> {
    this.agents['http:']?.destroy();
    this.agents['https:']?.destroy();
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
        response = await this.once(req, body);
      } catch (err) {
        failure = err;
      }
      const retryable = response ? RETRY_STATUSES.has(response.status) : isTransient(failure);
      if (!retryable || attempt >= maxAttempts) {
        if (response) return response;
        if (failure instanceof MeshwasmError) throw failure;
        throw networkError(req.url, failure);
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

  /** One exchange: resolves with the response once its headers are in; the body streams after. */
  private once(req: HttpRequest, body: Uint8Array | string | Readable | undefined): Promise<HttpResponse> {
    const url = new URL(req.url);
    const headers: Record<string, string> = { ...req.headers };
    if ((typeof body === 'string' || body instanceof Uint8Array) && !hasHeader(headers, 'content-length'))
      headers['content-length'] = String(Buffer.byteLength(body));
    const idleMs = this.options.idleTimeoutMs ?? 300_000;
    const module = url.protocol === 'http:' ? http : this.loadedTls().https;
    return new Promise<HttpResponse>((resolve, reject) => {
      const request = module.request(
        url,
        {
          method: req.method,
          headers,
          agent: this.agentFor(url.protocol),
          ...(req.refuseAddress ? { lookup: guardedLookup(url.host, req.refuseAddress) } : {}),
        },
        (res) =>
          resolve({
            status: res.statusCode ?? 0,
            headers: flattenHeaders(res.headers),
            body: res,
            url: req.url,
          }),
      );
      request.setTimeout(idleMs, () =>
        request.destroy(Object.assign(new Error(`no progress for ${idleMs} ms`), { code: 'ETIMEDOUT' })),
      );
      // Before the response an error rejects; after it, the response stream reports it (aborted).
      request.on('error', reject);
      if (body instanceof Readable) {
        body.on('error', (err) => request.destroy(err));
        request.on('error', () => body.destroy());
        body.pipe(request);
      } else request.end(body);
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
function guardedLookup(host: string, refuse: (address: string) => string | undefined): LookupFunction {
  return (hostname, options, callback) =>
    dns.lookup(hostname, { ...options, all: true }, (err, addresses) => {
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

function flattenHeaders(headers: Record<string, string | string[] | undefined>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(headers))
    if (v !== undefined) out[k.toLowerCase()] = Array.isArray(v) ? v.join(', ') : v;
  return out;
}

function hasHeader(headers: Record<string, string>, name: string): boolean {
  return Object.keys(headers).some((k) => k.toLowerCase() === name);
}

function errorCode(err: unknown): string | undefined {
  let e: unknown = err;
  for (let depth = 0; e && depth < 4; depth++) {
    const code = (e as { code?: unknown }).code;
    if (typeof code === 'string') return code;
    e = (e as { cause?: unknown }).cause;
  }
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
