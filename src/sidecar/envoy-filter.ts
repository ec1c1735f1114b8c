/**
 * The Wasm filter of one Istio EnvoyFilter object, for callers that hold it already (the demo, tests):
 * the first filter its configPatches add, read by the same rules as `meshwasm run -f` (mesh-config.ts).
 * Pure; no I/O.
 */
import { chainOf } from './mesh-config.js';
import type { FilterSpec } from './spec.js';

/**
 * `baseDir`, when given, stands in for the node's filters directory: the module is looked up there by
 * its file name (the agent names files by digest, so the name alone identifies the module).
 */
export function filterFromEnvoyFilter(envoyFilter: unknown, baseDir?: string): FilterSpec {
  // It is an EnvoyFilter by the caller's word, whether or not it says so.
  const value =
    typeof envoyFilter === 'object' && envoyFilter !== null && !('kind' in envoyFilter)
      ? { ...envoyFilter, kind: 'EnvoyFilter' }
      : envoyFilter;
  const [first] = chainOf([{ value, where: 'object' }], 'EnvoyFilter', {
    filtersDir: baseDir,
  });
  const { reference: _reference, ...spec } = first!;
  return spec;
}
