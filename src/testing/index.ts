/**
 * `meshwasm/testing`: unit-test a compiled proxy-wasm filter without Envoy. Load the .wasm with a
 * configuration, drive a stream (headers, bodies, trailers in both directions), advance the tick timer,
 * answer the filter's http calls by hand, and read back headers, bodies, the local response, logs and
 * metrics. It runs the same host (`src/runtime`) `meshwasm run` uses.
 */
import { readFile } from 'node:fs/promises';
import {
  FilterPlugin,
  SharedState,
  getHeader,
  type Decision,
  type HeaderPairs,
  type HostIO,
  type HttpCallRequest,
  type HttpCallResponse,
  type HttpStream,
  type LocalResponse,
  type LogLevelName,
  type MetricValue,
  type StreamInfo,
} from '../runtime/index.js';

export type { Decision, HeaderPairs, LocalResponse, LogLevelName, MetricValue, StreamInfo };

/** Headers as an object (`{ ':path': '/' }`) or as ordered pairs (repeated names allowed). */
export type HeadersInit = Record<string, string> | HeaderPairs;

export interface LoadOptions {
  /** The filter's name in logs (Envoy's plugin name). */
  name?: string;
  rootId?: string;
  vmId?: string;
  /** Plugin configuration; objects are sent as JSON. */
  configuration?: string | Uint8Array | object;
  vmConfiguration?: string | Uint8Array | object;
  /** Minimum level recorded in `logs` (default trace: everything). */
  logLevel?: LogLevelName;
  /** Cluster names proxy_http_call may target; default: any name. */
  clusters?: string[];
  env?: Record<string, string>;
  /** Share data and queues between several harnesses (as filters sharing a vm_id do in Envoy). */
  shared?: SharedState;
}

export interface LogEntry {
  level: LogLevelName;
  message: string;
}

export interface ResponseInit {
  status?: number;
  headers?: HeadersInit;
  body?: string | Uint8Array;
  trailers?: HeadersInit;
}

/** An http call the filter made and that is waiting for the test to answer it. */
export interface PendingCall extends HttpCallRequest {
  /** Delivers a response to the filter (proxy_on_http_call_response runs before this returns). */
  respond(response: ResponseInit): void;
  /** Fails the call (the filter sees zero headers, as for a reset or timeout). */
  fail(): void;
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();

function toPairs(h: HeadersInit | undefined): HeaderPairs {
  if (!h) return [];
  const pairs: HeaderPairs = Array.isArray(h) ? h.map(([k, v]) => [k, v]) : Object.entries(h);
  return pairs.map(([k, v]) => [k.toLowerCase(), v]);
}

function toBytes(v: string | Uint8Array | object | undefined): string | Uint8Array | undefined {
  if (v === undefined || typeof v === 'string' || v instanceof Uint8Array) return v;
  return JSON.stringify(v);
}

/** Records what a VM asks of the outside world so the test decides when and how it happens. */
class ManualIO implements HostIO {
  tickPeriodMs = 0;
  tickFn: (() => void) | undefined;
  readonly calls: PendingCall[] = [];

  constructor(private readonly clusters: string[] | undefined) {}

  hasCluster(name: string): boolean {
    return this.clusters === undefined || this.clusters.includes(name);
  }

  httpCall(call: HttpCallRequest, done: (response: HttpCallResponse | undefined) => void): void {
    const pending: PendingCall = {
      ...call,
      respond: (r) => {
        this.remove(pending);
        const headers = toPairs(r.headers).filter(([k]) => k !== ':status');
        const body = typeof r.body === 'string' ? encoder.encode(r.body) : (r.body ?? new Uint8Array(0));
        done({
          headers: [[':status', String(r.status ?? 200)], ...headers],
          body,
          trailers: toPairs(r.trailers),
        });
      },
      fail: () => {
        this.remove(pending);
        done(undefined);
      },
    };
    this.calls.push(pending);
  }

  private remove(call: PendingCall): void {
    const i = this.calls.indexOf(call);
    if (i < 0) throw new Error(`http call to "${call.cluster}" was already answered`);
    this.calls.splice(i, 1);
  }

  setTickPeriod(periodMs: number, tick: () => void): void {
    this.tickPeriodMs = periodMs;
    this.tickFn = periodMs > 0 ? tick : undefined;
  }

  close(): void {
    this.tickFn = undefined;
  }
}

/** One request/response exchange through the filter. Each `send*` returns the filter's decision. */
export class StreamDriver {
  constructor(private readonly stream: HttpStream) {}

  sendRequestHeaders(headers: HeadersInit, options: { endOfStream?: boolean } = {}): Decision {
    return this.stream.requestHeaders(toPairs(headers), options.endOfStream ?? false);
  }

  sendRequestBody(body: string | Uint8Array, options: { endOfStream?: boolean } = {}): Decision {
    return this.stream.requestBody(
      typeof body === 'string' ? encoder.encode(body) : body,
      options.endOfStream ?? true,
    );
  }

  sendRequestTrailers(trailers: HeadersInit): Decision {
    return this.stream.requestTrailers(toPairs(trailers));
  }

  sendResponseHeaders(headers: HeadersInit, options: { endOfStream?: boolean } = {}): Decision {
    return this.stream.responseHeaders(toPairs(headers), options.endOfStream ?? false);
  }

  sendResponseBody(body: string | Uint8Array, options: { endOfStream?: boolean } = {}): Decision {
    return this.stream.responseBody(
      typeof body === 'string' ? encoder.encode(body) : body,
      options.endOfStream ?? true,
    );
  }

  sendResponseTrailers(trailers: HeadersInit): Decision {
    return this.stream.responseTrailers(toPairs(trailers));
  }

  /** After a 'pause': resolves with how the filter resumed ('continue', 'local' or 'reset'). */
  waitResume(direction: 'request' | 'response'): Promise<'continue' | 'local' | 'reset'> {
    return this.stream.waitResume(direction);
  }

  get requestHeaders(): HeaderPairs {
    return this.stream.state.requestHeaders;
  }

  get responseHeaders(): HeaderPairs {
    return this.stream.state.responseHeaders;
  }

  get requestTrailers(): HeaderPairs {
    return this.stream.state.requestTrailers;
  }

  get responseTrailers(): HeaderPairs {
    return this.stream.state.responseTrailers;
  }

  requestHeader(name: string): string | undefined {
    return getHeader(this.stream.state.requestHeaders, name);
  }

  responseHeader(name: string): string | undefined {
    return getHeader(this.stream.state.responseHeaders, name);
  }

  /** The body buffered in the host for a direction, as the filter left it. */
  requestBody(): string {
    return decoder.decode(this.stream.state.requestBody);
  }

  responseBody(): string {
    return decoder.decode(this.stream.state.responseBody);
  }

  /** Values set with proxy_set_property on this stream. */
  property(path: string): Uint8Array | undefined {
    return this.stream.state.getProperty(path);
  }

  get localResponse(): (LocalResponse & { text: string }) | undefined {
    const r = this.stream.localResponse;
    return r ? { ...r, text: decoder.decode(r.body) } : undefined;
  }

  /** Ends the stream: proxy_on_done, proxy_on_log, proxy_on_delete. */
  complete(): void {
    this.stream.finish();
  }
}

export class FilterHarness {
  readonly logs: LogEntry[] = [];
  private readonly ios: ManualIO[] = [];

  private constructor(
    private readonly clusters: string[] | undefined,
    private plugin: FilterPlugin | undefined,
  ) {}

  /** @internal */
  static async create(bytes: Uint8Array, options: LoadOptions): Promise<FilterHarness> {
    const harness = new FilterHarness(options.clusters, undefined);
    harness.plugin = await FilterPlugin.load(bytes, {
      name: options.name ?? 'filter-under-test',
      rootId: options.rootId ?? '',
      vmId: options.vmId ?? '',
      configuration: toBytes(options.configuration),
      vmConfiguration: toBytes(options.vmConfiguration),
      logLevel: options.logLevel ?? 'trace',
      env: options.env ?? {},
      shared: options.shared ?? new SharedState(),
      log: (level, message) => harness.logs.push({ level, message }),
      io: () => {
        const io = new ManualIO(harness.clusters);
        harness.ios.push(io);
        return io;
      },
    });
    return harness;
  }

  private get io(): ManualIO {
    const io = this.ios[this.ios.length - 1];
    if (!io) throw new Error('the filter has no VM');
    return io;
  }

  private get loaded(): FilterPlugin {
    if (!this.plugin) throw new Error('the filter is not loaded');
    return this.plugin;
  }

  /** Opens a new stream context (a fresh VM is started first if the previous one trapped). */
  async newStream(info: StreamInfo = {}): Promise<StreamDriver> {
    return new StreamDriver(await this.loaded.newStream(info));
  }

  /** The period the filter set with proxy_set_tick_period_milliseconds (0 = no timer). */
  get tickPeriodMs(): number {
    return this.io.tickPeriodMs;
  }

  /** Fires proxy_on_tick `times` times, as the timer would. */
  tick(times = 1): void {
    for (let i = 0; i < times; i++) this.io.tickFn?.();
  }

  /** Http calls made by the filter and not answered yet, oldest first. */
  get pendingCalls(): readonly PendingCall[] {
    return this.io.calls;
  }

  metrics(): MetricValue[] {
    return this.loaded.metrics();
  }

  /** A metric's value by name (counters and gauges; for histograms the sum), or undefined. */
  metric(name: string): bigint | undefined {
    return this.loaded.metrics().find((m) => m.name === name)?.value;
  }

  /** Log messages at `level` or above, in order. */
  messages(level: LogLevelName = 'trace'): string[] {
    const order: LogLevelName[] = ['trace', 'debug', 'info', 'warn', 'error', 'critical'];
    return this.logs.filter((l) => order.indexOf(l.level) >= order.indexOf(level)).map((l) => l.message);
  }

  close(): void {
    this.plugin?.close();
  }
}

/** Loads a compiled filter (a path to a .wasm file, or its bytes) and runs vm_start and configure. */
export async function loadFilter(
  wasm: string | Uint8Array,
  options: LoadOptions = {},
): Promise<FilterHarness> {
  const bytes = typeof wasm === 'string' ? new Uint8Array(await readFile(wasm)) : wasm;
  return FilterHarness.create(bytes, options);
}
