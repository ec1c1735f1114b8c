import { Status, WasiErrno } from '../abi.js';
import { MemoryFault } from '../memory.js';
import type { FilterVm } from '../vm.js';

// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type HostFn = (...args: any[]) => number | void;
export type HostGroup = Record<string, HostFn>;
export type VmRef = () => FilterVm;

/** Wraps every function so a bad guest pointer returns `faultCode` instead of a host exception. */
function guardWith(group: HostGroup, faultCode: number): HostGroup {
  const out: HostGroup = {};
  for (const [name, fn] of Object.entries(group)) {
    out[name] = (...args: unknown[]) => {
      try {
        return fn(...args);
      } catch (err) {
        if (err instanceof MemoryFault) return faultCode;
        throw err;
      }
    };
  }
  return out;
}

/** proxy-wasm functions: a bad pointer is the ABI's INVALID_MEMORY_ACCESS. */
export const guarded = (group: HostGroup): HostGroup => guardWith(group, Status.INVALID_MEMORY_ACCESS);

/** WASI functions: a bad pointer is errno FAULT. */
export const guardedWasi = (group: HostGroup): HostGroup => guardWith(group, WasiErrno.FAULT);

/** i32 arguments arrive signed; sizes and pointers are unsigned. */
export const u32 = (n: number): number => n >>> 0;
