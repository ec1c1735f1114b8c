/**
 * One instance of a filter module: instantiation, the root context's lifecycle (vm_start, configure),
 * the table of live contexts with the effective one, and the single place that calls into the guest.
 * A trap marks the VM failed and surfaces as a MeshwasmError naming the filter and the callback; the
 * VM is never used again after that (FilterPlugin makes a fresh one).
 */
import { MeshwasmError } from '../errors.js';
import { LOG_LEVEL_NAMES, type AbiVersion, type LogLevelName } from './abi.js';
import { buildImports } from './host/index.js';
import { ProcExit } from './host/wasi.js';
import { GuestMemory } from './memory.js';
import { MetricStore } from './metrics.js';
import type { HeaderPairs } from './pairs.js';
import { SharedState } from './shared.js';
import type { StreamState } from './stream-state.js';
import type { HostIO, HttpCallResponse, LogSink } from './types.js';
import { Watchdog } from './watchdog.js';

export interface VmSettings {
  /** The filter's id in logs and errors. */
  name: string;
  rootId: string;
  vmId: string;
  vmConfiguration: Uint8Array;
  configuration: Uint8Array;
  io: HostIO;
  log: LogSink;
  logLevel: LogLevelName;
  shared: SharedState;
  /** Environment the WASI environ_* functions expose (never the host's own). */
  env: Record<string, string>;
  abi: AbiVersion;
  /** Owned by the plugin so values survive a VM restart after a trap. */
  metrics: MetricStore;
}

export interface ContextRecord {
  id: number;
  /** 0 for the root context. */
  parentId: number;
  stream: StreamState | undefined;
  /** proxy_on_done returned false; the filter will call proxy_done. */
  awaitingDone: boolean;
}

/** The answer to an http call, visible to the guest during proxy_on_http_call_response. */
export interface ActiveCallResponse extends HttpCallResponse {
  status: number;
}

type Export = (...args: (number | bigint)[]) => number | undefined;

export class FilterVm {
  readonly memory = new GuestMemory();
  readonly metrics: MetricStore;
  readonly contexts = new Map<number, ContextRecord>();
  readonly rootContextId: number;
  current: ContextRecord;
  callResponse: ActiveCallResponse | undefined;
  /** Outstanding proxy_http_call tokens and the context that made each. */
  readonly callouts = new Map<number, number>();
  nextToken = 1;
  failure: MeshwasmError | undefined;
  closed = false;
  private nextContextId: number;
  private readonly exports: Record<string, Export>;
  private readonly queueReady = (queueId: number): void => this.onQueueReady(queueId);

  private constructor(
    readonly settings: VmSettings,
    instance: WebAssembly.Instance,
  ) {
    this.metrics = settings.metrics;
    this.exports = instance.exports as unknown as Record<string, Export>;
    const memory = instance.exports.memory;
    if (!(memory instanceof WebAssembly.Memory)) {
      throw new MeshwasmError('INVALID_MODULE', `filter "${settings.name}": module exports no memory`, {
        hint: 'proxy-wasm modules must export their linear memory as "memory"',
      });
    }
    this.memory.bind(memory);
    const alloc = this.exports.proxy_on_memory_allocate ?? this.exports.malloc;
    this.memory.allocate = alloc ? (size) => Number(alloc(size) ?? 0) : () => 0;
    this.rootContextId = 1;
    this.nextContextId = 2;
    this.current = { id: this.rootContextId, parentId: 0, stream: undefined, awaitingDone: false };
    this.contexts.set(this.rootContextId, this.current);
  }

  /** Instantiates, runs the module's start function, creates the root context, starts and configures it. */
  static async start(module: WebAssembly.Module, settings: VmSettings): Promise<FilterVm> {
    // Host functions need the VM, which needs the instance, which needs the host functions.
    const holder: { vm?: FilterVm } = {};
    const imports = buildImports(() => {
      if (!holder.vm)
        throw new MeshwasmError('RUNTIME', `filter "${settings.name}": host call before instantiation`);
      return holder.vm;
    });
    let instance: WebAssembly.Instance;
    try {
      instance = await WebAssembly.instantiate(module, imports);
    } catch (err) {
      throw new MeshwasmError('RUNTIME', `filter "${settings.name}": instantiation failed: ${message(err)}`, {
        cause: err,
      });
    }
    const vm = new FilterVm(settings, instance);
    holder.vm = vm;
    vm.boot();
    return vm;
  }

  private boot(): void {
    const { name } = this.settings;
    // _initialize (+ main) for reactor modules, _start for command-style ones, per the spec.
    if (this.exports._initialize) {
      this.call('_initialize');
      if (this.exports.main) this.call('main', 0, 0);
    } else if (this.exports._start) {
      this.call('_start');
    }
    this.call('proxy_on_context_create', this.rootContextId, 0);
    if (this.has('proxy_on_vm_start')) {
      const ok = this.call('proxy_on_vm_start', this.rootContextId, this.settings.vmConfiguration.length);
      if (ok === 0) this.refuse(`filter "${name}": proxy_on_vm_start rejected the VM configuration`);
    }
    if (this.has('proxy_on_configure')) {
      const ok = this.call('proxy_on_configure', this.rootContextId, this.settings.configuration.length);
      if (ok === 0) this.refuse(`filter "${name}": proxy_on_configure rejected the plugin configuration`);
    }
  }

  private refuse(msg: string): never {
    this.failure = new MeshwasmError('RUNTIME', msg, {
      hint: 'check the filter configuration (--config) against what the filter expects; its log lines above say why',
    });
    this.close();
    throw this.failure;
  }

  has(name: string): boolean {
    return typeof this.exports[name] === 'function';
  }

  /**
   * Calls an export (absent callbacks return 0 = CONTINUE, as the spec makes them optional). A trap
   * fails the VM: every paused stream is failed with the same error and the VM shuts down.
   */
  call(name: string, ...args: (number | bigint)[]): number {
    if (this.failure) throw this.failure;
    const fn = this.exports[name];
    if (!fn) return 0;
    const watchdog = Watchdog.active;
    watchdog?.enter(this.settings.name, name);
    try {
      return Number(fn(...args) ?? 0);
    } catch (err) {
      if (err instanceof MeshwasmError && err.code === 'RUNTIME' && this.failure) throw err;
      // Command-style modules may end _start with proc_exit(0): a normal end of initialisation.
      if (err instanceof ProcExit && err.code === 0 && name === '_start') return 0;
      this.failure = new MeshwasmError(
        'RUNTIME',
        `filter "${this.settings.name}": trap in ${name}: ${message(err)}`,
        {
          cause: err,
          hint: 'the filter crashed; fix the filter (its log lines above may say why) — other filters and streams are unaffected',
        },
      );
      for (const ctx of this.contexts.values()) ctx.stream?.fail(this.failure);
      this.close();
      throw this.failure;
    } finally {
      watchdog?.exit();
    }
  }

  /** Runs a callback as `ctx`, restoring the previous effective context afterwards. */
  callAs(ctx: ContextRecord, name: string, ...args: (number | bigint)[]): number {
    const previous = this.current;
    this.current = ctx;
    try {
      return this.call(name, ...args);
    } finally {
      this.current = previous;
    }
  }

  createStreamContext(stream: StreamState): ContextRecord {
    const ctx: ContextRecord = {
      id: this.nextContextId++,
      parentId: this.rootContextId,
      stream,
      awaitingDone: false,
    };
    this.contexts.set(ctx.id, ctx);
    this.callAs(ctx, 'proxy_on_context_create', ctx.id, this.rootContextId);
    return ctx;
  }

  /** on_done, then (unless the filter defers with false) on_log and on_delete. */
  finishContext(ctx: ContextRecord): void {
    if (!this.contexts.has(ctx.id) || this.failure) return;
    const done = this.has('proxy_on_done') ? this.callAs(ctx, 'proxy_on_done', ctx.id) : 1;
    if (done === 0) {
      ctx.awaitingDone = true;
      return;
    }
    this.deleteContext(ctx);
  }

  deleteContext(ctx: ContextRecord): void {
    ctx.awaitingDone = false;
    this.callAs(ctx, 'proxy_on_log', ctx.id);
    this.callAs(ctx, 'proxy_on_delete', ctx.id);
    this.contexts.delete(ctx.id);
    for (const [token, owner] of this.callouts) if (owner === ctx.id) this.callouts.delete(token);
  }

  /** Delivers an http call's answer to the context that made the call (if it still exists). */
  deliverCallResponse(token: number, response: HttpCallResponse | undefined): void {
    const owner = this.callouts.get(token);
    this.callouts.delete(token);
    if (owner === undefined || this.closed) return;
    const ctx = this.contexts.get(owner);
    if (!ctx) return;
    const status = Number(response?.headers.find(([k]) => k === ':status')?.[1] ?? 0);
    this.callResponse = response ? { ...response, status } : undefined;
    try {
      const headers: HeaderPairs = response?.headers ?? [];
      this.callAs(
        ctx,
        'proxy_on_http_call_response',
        ctx.id,
        token,
        headers.length,
        response?.body.length ?? 0,
        response?.trailers.length ?? 0,
      );
    } catch (err) {
      this.log('error', message(err));
    } finally {
      this.callResponse = undefined;
    }
  }

  tick(): void {
    try {
      this.callAs(this.contexts.get(this.rootContextId)!, 'proxy_on_tick', this.rootContextId);
    } catch (err) {
      this.log('error', message(err));
    }
  }

  private onQueueReady(queueId: number): void {
    if (this.closed) return;
    try {
      this.callAs(
        this.contexts.get(this.rootContextId)!,
        'proxy_on_queue_ready',
        this.rootContextId,
        queueId,
      );
    } catch (err) {
      this.log('error', message(err));
    }
  }

  get queueListener(): (queueId: number) => void {
    return this.queueReady;
  }

  log(level: LogLevelName, msg: string): void {
    if (LOG_LEVEL_NAMES.indexOf(level) >= LOG_LEVEL_NAMES.indexOf(this.settings.logLevel))
      this.settings.log(level, msg);
  }

  /** Plugin teardown: the root context gets proxy_on_done and proxy_on_delete, then the VM closes. */
  shutdown(): void {
    if (this.closed) return;
    if (!this.failure) {
      const root = this.contexts.get(this.rootContextId)!;
      try {
        this.callAs(root, 'proxy_on_done', this.rootContextId);
        this.callAs(root, 'proxy_on_delete', this.rootContextId);
      } catch (err) {
        this.log('error', message(err));
      }
    }
    this.close();
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.settings.io.close();
    this.settings.shared.forgetOwner(this.queueReady);
  }
}

export function message(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
