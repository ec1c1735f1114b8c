import { readFileSync } from 'node:fs';
import { rootCertificates } from 'node:tls';
import type { Readable } from 'node:stream';
import { Agent, request, type Dispatcher } from 'undici';
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
  /** a caller-supplied dispatcher, mainly for tests */
  dispatcher?: Dispatcher;
}

export interface HttpRequest {
  method: 'GET' | 'HEAD' | 'PUT' | 'POST' | 'PATCH' | 'DELETE';
  url: string;
  headers?: Record<string, string>;
  /** bytes, or a factory for a fresh stream per attempt (a bare stream would make retries impossible) */
  body?: Uint8Array | string | (() => Readable | Promise<Readable>);
}

export interface HttpResponse {
  status: number;
  headers: Record<string, string>;
  body: Readable;
  url: string;
}

const RETRY_STATUSES = new Set([429, 500, 502, 503, 504]);
const TRANSIENT_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'EPIPE',
  'ETIMEDOUT',
  'EAI_AGAIN',
  'UND_ERR_SOCKET',
  'UND_ERR_CONNECT_TIMEOUT',
  'UND_ERR_HEADERS_TIMEOUT',
  'UND_ERR_BODY_TIMEOUT',
  'UND_ERR_CLOSED',
]);

/** The HTTP layer under the registry client: TLS settings, bounded retries with backoff. */
export class Transport {
  readonly options: TransportOptions;
  private readonly dispatcher: Dispatcher;
  private readonly ownsDispatcher: boolean;

  constructor(options: TransportOptions = {}) {
    this.options = options;
    if (options.dispatcher) {
      this.dispatcher = options.dispatcher;
      this.ownsDispatcher = false;
    } else {
      let ca: string[] | undefined;
      if (options.caFile) {
        try {
          ca = [readFileSync(options.caFile, 'utf8')];
        } catch (err) {
          throw new MeshwasmError(
            'CONFIG',
            `cannot read --ca-file ${options.caFile}: ${(err as Error).message}`,
          );
        }
      }
      this.dispatcher = new Agent({
        connect: {
          rejectUnauthorized: !options.insecure,
          // Node replaces its default CAs when `ca` is given; keep them alongside the extra ones.
          ...(ca ? { ca: [...rootCertificates, ...ca] } : {}),
        },
        keepAliveTimeout: 10_000,
        connections: 32,
      });
      this.ownsDispatcher = true;
    }
  }

  scheme(): 'http' | 'https' {
    return this.options.plainHttp ? 'http' : 'https';
  }

  async close(): Promise<void> {
    if (this.ownsDispatcher) await this.dispatcher.close();
  }

  /** One request with retries. Responses of any status are returned; only transport failures throw. */
  async send(req: HttpRequest): Promise<HttpResponse> {
    const maxAttempts = this.options.maxAttempts ?? 5;
    for (let attempt = 1; ; attempt++) {
      let response: HttpResponse | undefined;
      let failure: unknown;
      try {
        const body = typeof req.body === 'function' ? await req.body() : req.body;
        const res = await request(req.url, {
          method: req.method,
          headers: req.headers,
          body,
          dispatcher: this.dispatcher,
        });
        response = {
          status: res.statusCode,
          headers: flattenHeaders(res.headers),
          body: res.body,
          url: req.url,
        };
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

  /** Full-jitter exponential backoff, or the server's Retry-After, each capped. */
  private backoff(attempt: number, retryAfter: string | undefined): number {
    const max = this.options.retryMaxMs ?? 10_000;
    const fromServer = parseRetryAfter(retryAfter);
    if (fromServer !== undefined) return Math.min(fromServer, max);
    const base = this.options.retryBaseMs ?? 250;
    return Math.min(max, Math.random() * base * 2 ** (attempt - 1));
  }
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
