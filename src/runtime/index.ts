/**
 * The proxy-wasm (ABI 0.2.1; 0.2.0 and 0.1.0 accepted) host on Node's WebAssembly (V8). It knows
 * nothing about OCI or Kubernetes: give it module bytes and settings, get streams to drive.
 */
export { FilterPlugin, compileFilter, type PluginOptions, type CompiledFilter } from './plugin.js';
export { HttpStream, type Decision } from './stream.js';
export type { Direction, Resumption } from './stream-state.js';
export { FilterVm } from './vm.js';
export { Watchdog } from './watchdog.js';
export { SharedState } from './shared.js';
export type { MetricValue } from './metrics.js';
export {
  serializePairs,
  deserializePairs,
  getHeader,
  removeHeader,
  replaceHeader,
  type HeaderPairs,
} from './pairs.js';
export type {
  HostIO,
  HttpCallRequest,
  HttpCallResponse,
  LocalResponse,
  LogSink,
  StreamInfo,
} from './types.js';
export type { LogLevelName, AbiVersion } from './abi.js';
export { HOST_FUNCTIONS } from './host/index.js';
