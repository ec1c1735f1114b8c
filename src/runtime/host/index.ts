/**
 * The import object a filter module is instantiated with, assembled from the host-function groups.
 * `HOST_FUNCTIONS` lists what exists so a module importing anything else is refused before it runs.
 */
import { bufferImports } from './buffers.js';
import { guarded, guardedWasi, type HostGroup, type VmRef } from './guard.js';
import { httpImports } from './http.js';
import { loggingImports } from './logging.js';
import { mapImports } from './maps.js';
import { metricImports } from './metrics.js';
import { propertyImports } from './properties.js';
import { sharedImports } from './shared.js';
import { streamImports } from './streams.js';
import { wasiImports } from './wasi.js';

export const WASI_MODULES = ['wasi_snapshot_preview1', 'wasi_unstable'] as const;

export function buildImports(vm: VmRef): WebAssembly.Imports {
  const env: HostGroup = guarded({
    ...loggingImports(vm),
    ...mapImports(vm),
    ...bufferImports(vm),
    ...streamImports(vm),
    ...propertyImports(vm),
    ...httpImports(vm),
    ...sharedImports(vm),
    ...metricImports(vm),
    // Emscripten-built C++ filters announce memory growth; GuestMemory already notices a grown buffer
    // on its next access, so there is nothing to do (Envoy's host accepts the call the same way).
    emscripten_notify_memory_growth: () => undefined,
  });
  const wasi = guardedWasi(wasiImports(vm));
  return { env, wasi_snapshot_preview1: wasi, wasi_unstable: wasi };
}

/** module name -> function names the host provides (computed once from a throwaway import object). */
export const HOST_FUNCTIONS: ReadonlyMap<string, ReadonlySet<string>> = (() => {
  const sample = buildImports(() => {
    throw new Error('not callable');
  });
  return new Map(Object.entries(sample).map(([mod, fns]) => [mod, new Set(Object.keys(fns))]));
})();
