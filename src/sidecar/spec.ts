/** What the sidecar needs to know about one filter of its chain. */
export interface FilterSpec {
  /** The filter's id in logs and errors. */
  name: string;
  /** Path of a .wasm file ... */
  file?: string;
  /** ... or the module bytes themselves (already pulled). */
  module?: Uint8Array;
  rootId?: string;
  /** Plugin configuration handed to proxy_on_configure. */
  configuration?: string;
  vmConfiguration?: string;
  vmId?: string;
  /** true (default): a broken filter is skipped; false: requests it would see get 503. */
  failOpen?: boolean;
  /** Environment variables the module sees through WASI (Envoy's vm_config.environment_variables). */
  env?: Record<string, string>;
  /** The module must have this sha256 (hex), as a WasmPlugin's `sha256` pins it; else it fails to load. */
  sha256?: string;
}
