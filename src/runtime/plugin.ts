/**
 * A loaded filter: the compiled module, its settings, and the VM currently serving it. Loading checks
 * everything that can be checked before any guest code runs (Wasm magic, validation, proxy-wasm ABI
 * marker, every import known to the host) and then starts a VM, so configuration errors surface at load.
 * After a trap the VM is dropped and the next stream gets a fresh one.
 */
import { MeshwasmError } from '../errors.js';
import { ABI_MARKERS, type AbiVersion, type LogLevelName } from './abi.js';
import { HOST_FUNCTIONS } from './host/index.js';
import { MetricStore, type MetricValue } from './metrics.js';
import { SharedState } from './shared.js';
import { HttpStream } from './stream.js';
import type { HostIO, LogSink, StreamInfo } from './types.js';
import { FilterVm, message } from './vm.js';

export interface PluginOptions {
  /** The filter's id in logs and errors (Envoy's plugin `name`). */
  name?: string;
  rootId?: string;
  vmId?: string;
  /** Plugin configuration (what proxy_on_configure reads). */
  configuration?: string | Uint8Array;
  /** VM configuration (what proxy_on_vm_start reads). */
  vmConfiguration?: string | Uint8Array;
  /** Makes the outside-world adapter for each VM incarnation. */
  io: () => HostIO;
  log?: LogSink;
  logLevel?: LogLevelName;
  shared?: SharedState;
  env?: Record<string, string>;
}

export interface CompiledFilter {
  module: WebAssembly.Module;
  abi: AbiVersion;
}

const encoder = new TextEncoder();
const bytesOf = (v: string | Uint8Array | undefined): Uint8Array =>
  v === undefined ? new Uint8Array(0) : typeof v === 'string' ? encoder.encode(v) : v;

/** Compiles and checks a module without running any of it. */
export async function compileFilter(bytes: Uint8Array, name: string): Promise<CompiledFilter> {
  const hint = 'give the .wasm file a proxy-wasm SDK produced (Rust, Go, C++ or AssemblyScript)';
  if (bytes.length < 8 || bytes[0] !== 0 || bytes[1] !== 0x61 || bytes[2] !== 0x73 || bytes[3] !== 0x6d) {
    throw new MeshwasmError(
      'INVALID_MODULE',
      `filter "${name}": not a WebAssembly module (no \\0asm header)`,
      {
        hint,
      },
    );
  }
  let module: WebAssembly.Module;
  try {
    module = await WebAssembly.compile(bytes as Uint8Array<ArrayBuffer>);
  } catch (err) {
    throw new MeshwasmError('INVALID_MODULE', `filter "${name}": invalid WebAssembly: ${message(err)}`, {
      hint,
    });
  }
  const exported = new Set(WebAssembly.Module.exports(module).map((e) => e.name));
  const marker = ABI_MARKERS.find((m) => exported.has(m));
  if (!marker) {
    throw new MeshwasmError(
      'INVALID_MODULE',
      `filter "${name}": not a proxy-wasm module (exports no proxy_abi_version_*)`,
      {
        hint: `the module must export one of ${ABI_MARKERS.join(', ')}; build it with a proxy-wasm SDK`,
      },
    );
  }
  const unknown = WebAssembly.Module.imports(module)
    .filter((i) => i.kind !== 'function' || !HOST_FUNCTIONS.get(i.module)?.has(i.name))
    .map((i) => `${i.module}.${i.name}${i.kind === 'function' ? '' : ` (${i.kind})`}`);
  if (unknown.length > 0) {
    throw new MeshwasmError(
      'INVALID_MODULE',
      `filter "${name}": imports ${unknown.join(', ')}, which the host does not provide`,
      {
        hint: 'the module was built for another host or a newer ABI; proxy-wasm ABI 0.2.1 functions and a small WASI set are available',
      },
    );
  }
  const abi = marker.replace('proxy_abi_version_', '').replaceAll('_', '.') as AbiVersion;
  return { module, abi };
}

export class FilterPlugin {
  readonly metricStore = new MetricStore();
  private vm: FilterVm | undefined;
  private starting: Promise<FilterVm> | undefined;
  private closed = false;
  readonly name: string;

  private constructor(
    readonly compiled: CompiledFilter,
    private readonly options: PluginOptions,
  ) {
    this.name = options.name ?? 'filter';
  }

  /** Compiles, checks and starts the filter (vm_start + configure). Throws a MeshwasmError naming it. */
  static async load(bytes: Uint8Array, options: PluginOptions): Promise<FilterPlugin> {
    const name = options.name ?? 'filter';
    const compiled = await compileFilter(bytes, name);
    const plugin = new FilterPlugin(compiled, options);
    await plugin.currentVm();
    return plugin;
  }

  get abi(): AbiVersion {
    return this.compiled.abi;
  }

  /** The live VM, starting a new one if the last one trapped. */
  async currentVm(): Promise<FilterVm> {
    if (this.closed) throw new MeshwasmError('RUNTIME', `filter "${this.name}" is closed`);
    if (this.vm && !this.vm.failure && !this.vm.closed) return this.vm;
    this.starting ??= this.startVm().finally(() => (this.starting = undefined));
    return this.starting;
  }

  private async startVm(): Promise<FilterVm> {
    const o = this.options;
    this.vm = await FilterVm.start(this.compiled.module, {
      name: this.name,
      rootId: o.rootId ?? '',
      vmId: o.vmId ?? '',
      configuration: bytesOf(o.configuration),
      vmConfiguration: bytesOf(o.vmConfiguration),
      io: o.io(),
      log: o.log ?? (() => undefined),
      logLevel: o.logLevel ?? 'info',
      shared: o.shared ?? new SharedState(),
      env: o.env ?? {},
      abi: this.compiled.abi,
      metrics: this.metricStore,
    });
    return this.vm;
  }

  /** Opens a stream context on the live VM. */
  async newStream(info: StreamInfo = {}): Promise<HttpStream> {
    return new HttpStream(await this.currentVm(), info);
  }

  /** The same, when the VM is known to be healthy (no await on the hot path). */
  newStreamSync(info: StreamInfo = {}): HttpStream | undefined {
    const vm = this.vm;
    if (!vm || vm.failure || vm.closed || this.closed) return undefined;
    return new HttpStream(vm, info);
  }

  metrics(): MetricValue[] {
    return this.metricStore.snapshot();
  }

  /** The live VM if any (the harness reads it; the sidecar does not need to). */
  get activeVm(): FilterVm | undefined {
    return this.vm;
  }

  close(): void {
    this.closed = true;
    this.vm?.shutdown();
  }
}
