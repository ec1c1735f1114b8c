import { Status, WasiErrno } from '../abi.js';
import { MemoryFault } from '../memory.js';
import type { FilterVm } from '../vm.js';

// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type HostFn = (...args: any[]) => number | void;
export type HostGroup = Record<string, HostFn>;
export type VmRef = () => FilterVm;

/** Turns a bad guest pointer into the ABI's INVALID_MEMORY_ACCESS instead of a host exception. */
export function guarded(group: HostGroup): HostGroup {
  const out: HostGroup = {};
  for (const [name, fn] of Object.entries(group)) {
    out[name] = (...args: unknown[]) => {
      try {
        return fn(...args);
      } catch (err) {
        if (err instanceof MemoryFault) return Status.INVALID_MEMORY_ACCESS;
        throw err;
      }
    };
  }
  return out;
}

/** The same for WASI functions, whose fault code is errno FAULT. */
export function guardedWasi(group: HostGroup): HostGroup {
  const out: HostGroup = {};
  for (const [name, fn] of Object.entries(group)) {
    out[name] = (...args: unknown[]) => {
      try {
        return fn(...args);
      } catch (err) {
        if (err instanceof MemoryFault) return WasiErrno.FAULT;
        throw err;
      }
    };
  }
  return out;
}

/** i32 arguments arrive signed; sizes and pointers are unsigned. */
export const u32 = (n: number): number => n >>> 0;
