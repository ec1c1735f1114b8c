/**
 * Code-unit order: stable and locale-free. localeCompare would load ICU's collation data on the first
 * call, ~4 MB of a long-running process's resident memory, to order references and digests that are
 * ASCII anyway.
 */
export function byCodeUnits(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
