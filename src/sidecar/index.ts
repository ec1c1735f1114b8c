/** The local sidecar behind `meshwasm run`: a reverse proxy running a proxy-wasm filter chain. */
export { startSidecar, type Sidecar, type SidecarOptions } from './server.js';
export { filterFromEnvoyFilter } from './envoy-filter.js';
export { parseMeshConfig, chainOf, type MeshFilter, type MeshConfigOptions } from './mesh-config.js';
export { loadChain, type LoadedFilter } from './chain.js';
export type { FilterSpec } from './spec.js';
