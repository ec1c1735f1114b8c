import type { LogLevelName } from './abi.js';
import type { HeaderPairs } from './pairs.js';

/** A request a filter sends with proxy_http_call, after the host has checked it. */
export interface HttpCallRequest {
  cluster: string;
  headers: HeaderPairs;
  body: Uint8Array;
  trailers: HeaderPairs;
  timeoutMs: number;
}

/** What came back; `undefined` in the callback means the call failed (reset, timeout, refused). */
export interface HttpCallResponse {
  headers: HeaderPairs;
  body: Uint8Array;
  trailers: HeaderPairs;
}

/**
 * The outside world a filter VM may reach. The sidecar implements it with real sockets and timers; the
 * test harness records calls and ticks so a test can answer and advance them by hand.
 */
export interface HostIO {
  /** Whether `proxy_http_call` may target this cluster name. */
  hasCluster(name: string): boolean;
  /** Starts a call; `done` must run exactly once, with undefined on failure. */
  httpCall(call: HttpCallRequest, done: (response: HttpCallResponse | undefined) => void): void;
  /** (Re)arms the root context's tick timer; period 0 disarms it. */
  setTickPeriod(periodMs: number, tick: () => void): void;
  /** Stops everything pending for this VM (timers, calls) when it is torn down. */
  close(): void;
}

export type LogSink = (level: LogLevelName, message: string) => void;

/** Connection facts Envoy exposes as attributes (`source.address`, ...). */
export interface StreamInfo {
  sourceAddress?: string;
  sourcePort?: number;
  destinationAddress?: string;
  destinationPort?: number;
  /** `HTTP/1.1`, `HTTP/2`, ... */
  protocol?: string;
  requestId?: string;
  startTime?: Date;
}

/** A response a filter produced itself with proxy_send_local_response. */
export interface LocalResponse {
  status: number;
  details: string;
  body: Uint8Array;
  headers: HeaderPairs;
  grpcStatus: number;
}
