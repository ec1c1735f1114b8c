/**
 * `meshwasm run`'s reverse proxy: an HTTP/1.1 server (src/http1/server.ts) that sends every request through the filter chain
 * to one upstream. `startSidecar` resolves once it listens; `close()` stops accepting, lets in-flight
 * requests finish (bounded by a grace period) and tears the filter VMs down.
 */
import type { Logger } from '../log.js';
import { MeshwasmError } from '../errors.js';
import { createLogger } from '../log.js';
import type { LogLevelName, MetricValue } from '../runtime/index.js';
import { loadChain, type LoadedFilter } from './chain.js';
import { Exchange } from './exchange.js';
import { addressOf } from '../http1/connection.js';
import { Http1Pool } from '../http1/pool.js';
import { Http1Server } from '../http1/server.js';
import type { FilterSpec } from './spec.js';

/** Envoy buffers far less by default (1 MiB per connection); a local tool can afford more. */
export const DEFAULT_MAX_BUFFERED_BODY_BYTES = 16 * 1024 * 1024;
const SOCKET_BUFFER_BYTES = 1024 * 1024;

export interface SidecarOptions {
  /** Where requests go, e.g. http://127.0.0.1:9080. */
  upstream: string;
  /** Default 127.0.0.1. */
  host?: string;
  /** Default 0: any free port (read it back from `port`). */
  port?: number;
  /** The chain, applied in order to requests and in reverse to responses. */
  filters?: FilterSpec[];
  /** Upstreams filters may reach with proxy_http_call, by cluster name. */
  clusters?: Record<string, string>;
  logger?: Logger;
  /** Lowest level of filter log lines passed on (default info). */
  filterLogLevel?: LogLevelName;
  /** Most body bytes one filter may buffer while it pauses; beyond it 413 (request) or 500 (response). */
  maxBufferedBodyBytes?: number;
  /** How long close() waits for in-flight requests (default 5 s). */
  shutdownGraceMs?: number;
}

export interface Sidecar {
  url: string;
  port: number;
  filters: readonly LoadedFilter[];
  /** Metrics each loaded filter defined, by filter name. */
  metrics(): Record<string, MetricValue[]>;
  close(): Promise<void>;
}

function parseUrl(what: string, value: string): URL {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new MeshwasmError('USAGE', `${what} "${value}" is not a URL`, {
      hint: 'use the form http://host:port',
    });
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new MeshwasmError('USAGE', `${what} "${value}" must be an http:// or https:// URL`);
  }
  return url;
}

export async function startSidecar(options: SidecarOptions): Promise<Sidecar> {
  const upstream = parseUrl('upstream', options.upstream);
  if (upstream.protocol !== 'http:') {
    throw new MeshwasmError('USAGE', `upstream "${options.upstream}" must be plain http://`, {
      hint: 'the sidecar speaks HTTP/1.1 to its workload, as Envoy does inside the pod',
    });
  }
  const clusters = new Map(
    Object.entries(options.clusters ?? {}).map(([k, v]) => [k, parseUrl(`cluster ${k}`, v)]),
  );
  const logger = options.logger ?? createLogger('meshwasm-sidecar');
  const filters = await loadChain(options.filters ?? [], {
    clusters,
    logger,
    filterLogLevel: options.filterLogLevel ?? 'info',
  });
  // Socket buffers of 1 MiB: with Node's 16 KiB default every 64 KiB read overflows the write side, so a
  // large body would stop and restart its source once per chunk (a drain round trip each time).
  const pool = new Http1Pool(addressOf(upstream), {
    socketBufferBytes: SOCKET_BUFFER_BYTES,
    peer: 'the upstream',
  });
  const context = {
    upstream,
    pool,
    filters,
    logger,
    maxBufferedBytes: options.maxBufferedBodyBytes ?? DEFAULT_MAX_BUFFERED_BODY_BYTES,
  };
  // On close() the server itself has replies not yet sent say `connection: close` (src/http1/server.ts).
  const server = new Http1Server((req, res) => void new Exchange(context, req, res).run(), {
    socketBufferBytes: SOCKET_BUFFER_BYTES,
    onClientError: (err, socket) =>
      logger.debug({ err: err.message, status: err.status, client: socket.remoteAddress }, 'bad request'),
  });
  const address = await server.listen(options.port ?? 0, options.host ?? '127.0.0.1').catch((err: Error) => {
    throw new MeshwasmError(
      'USAGE',
      `cannot listen on ${options.host ?? '127.0.0.1'}:${options.port ?? 0}: ${err.message}`,
      { hint: 'pick a free port with --listen HOST:PORT' },
    );
  });
  const host = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  logger.info(
    { listen: `${host}:${address.port}`, upstream: upstream.origin, filters: filters.map((f) => f.name) },
    'sidecar listening',
  );

  let closing: Promise<void> | undefined;
  return {
    url: `http://${host}:${address.port}`,
    port: address.port,
    filters,
    metrics: () => Object.fromEntries(filters.map((f) => [f.name, f.plugin?.metrics() ?? []])),
    close: () =>
      (closing ??= (async () => {
        const closed = server.close();
        const grace = setTimeout(() => server.closeAllConnections(), options.shutdownGraceMs ?? 5000);
        await closed;
        clearTimeout(grace);
        for (const f of filters) {
          // What the filter counted over the sidecar's life, as Envoy's stats would show it.
          const metrics = f.plugin?.metrics() ?? [];
          if (metrics.length > 0) {
            const values = Object.fromEntries(
              metrics.map((m) => [
                m.name,
                m.kind === 'histogram' ? { count: m.count, sum: String(m.value) } : String(m.value),
              ]),
            );
            logger.info({ filter: f.name, metrics: values }, 'filter metrics');
          }
          f.plugin?.close();
        }
        pool.destroy();
        logger.info('sidecar stopped');
      })()),
  };
}
