/**
 * The small WASI (snapshot preview1) surface proxy-wasm SDKs import when built for wasm32-wasi:
 * stdout/stderr go to the filter log (line-buffered), clocks, randomness, a per-filter environment,
 * no arguments, no files (which is why the descriptor calls answer BADF: libc learns there are no
 * preopened directories). proc_exit ends the VM like a trap.
 */
import { randomFillSync } from 'node:crypto';
import { WasiErrno } from '../abi.js';
import type { FilterVm } from '../vm.js';
import { u32, type HostGroup, type VmRef } from './guard.js';

const encoder = new TextEncoder();
const decoder = new TextDecoder();
const FILETYPE_CHARACTER_DEVICE = 2;

export class ProcExit extends Error {
  constructor(readonly code: number) {
    super(`the module called proc_exit(${code})`);
  }
}

function envStrings(v: FilterVm): Uint8Array[] {
  return Object.entries(v.settings.env).map(([k, val]) => encoder.encode(`${k}=${val}\0`));
}

export function wasiImports(vm: VmRef): HostGroup {
  const pending: Record<number, string> = { 1: '', 2: '' };
  const flushLines = (v: FilterVm, fd: 1 | 2): void => {
    const lines = pending[fd]!.split('\n');
    pending[fd] = lines.pop() ?? '';
    for (const line of lines) if (line.length > 0) v.log(fd === 1 ? 'info' : 'error', line);
  };
  return {
    fd_write(fd: number, iovs: number, iovsLen: number, retWritten: number) {
      if (fd !== 1 && fd !== 2) return WasiErrno.BADF;
      const v = vm();
      let written = 0;
      let text = '';
      for (let i = 0; i < u32(iovsLen); i++) {
        const base = u32(iovs) + i * 8;
        const ptr = v.memory.u32(base);
        const len = v.memory.u32(base + 4);
        text += decoder.decode(v.memory.bytes(ptr, len), { stream: true });
        written += len;
      }
      v.memory.setU32(u32(retWritten), written);
      pending[fd] += text;
      flushLines(v, fd);
      return WasiErrno.SUCCESS;
    },
    fd_read(fd: number, _iovs: number, _iovsLen: number, retRead: number) {
      if (fd !== 0) return WasiErrno.BADF;
      vm().memory.setU32(u32(retRead), 0); // stdin is always at end of file
      return WasiErrno.SUCCESS;
    },
    fd_close: (fd: number) => (fd >= 0 && fd <= 2 ? WasiErrno.SUCCESS : WasiErrno.BADF),
    fd_seek: () => WasiErrno.BADF,
    fd_fdstat_get(fd: number, retPtr: number) {
      if (fd < 0 || fd > 2) return WasiErrno.BADF;
      const stat = new Uint8Array(24);
      stat[0] = FILETYPE_CHARACTER_DEVICE;
      vm().memory.write(u32(retPtr), stat);
      return WasiErrno.SUCCESS;
    },
    fd_prestat_get: () => WasiErrno.BADF,
    fd_prestat_dir_name: () => WasiErrno.BADF,
    clock_time_get(id: number, _precision: bigint, retPtr: number) {
      let now: bigint;
      if (id === 0) now = BigInt(Date.now()) * 1_000_000n;
      else if (id === 1) now = process.hrtime.bigint();
      else return WasiErrno.NOTSUP;
      vm().memory.setU64(u32(retPtr), now);
      return WasiErrno.SUCCESS;
    },
    clock_res_get(id: number, retPtr: number) {
      if (id !== 0 && id !== 1) return WasiErrno.NOTSUP;
      vm().memory.setU64(u32(retPtr), id === 0 ? 1_000_000n : 1n);
      return WasiErrno.SUCCESS;
    },
    random_get(ptr: number, len: number) {
      const size = u32(len);
      if (size > 64 * 1024 * 1024) return WasiErrno.INVAL;
      const bytes = new Uint8Array(size);
      randomFillSync(bytes);
      vm().memory.write(u32(ptr), bytes);
      return WasiErrno.SUCCESS;
    },
    environ_sizes_get(retCount: number, retSize: number) {
      const v = vm();
      const strings = envStrings(v);
      v.memory.setU32(u32(retCount), strings.length);
      v.memory.setU32(
        u32(retSize),
        strings.reduce((n, s) => n + s.length, 0),
      );
      return WasiErrno.SUCCESS;
    },
    environ_get(retArray: number, retBuffer: number) {
      const v = vm();
      let at = u32(retBuffer);
      envStrings(v).forEach((s, i) => {
        v.memory.setU32(u32(retArray) + i * 4, at);
        v.memory.write(at, s);
        at += s.length;
      });
      return WasiErrno.SUCCESS;
    },
    args_sizes_get(retCount: number, retSize: number) {
      const v = vm();
      v.memory.setU32(u32(retCount), 0);
      v.memory.setU32(u32(retSize), 0);
      return WasiErrno.SUCCESS;
    },
    args_get: () => WasiErrno.SUCCESS,
    sched_yield: () => WasiErrno.SUCCESS,
    poll_oneoff: () => WasiErrno.NOTSUP,
    proc_exit(code: number) {
      const v = vm();
      flushLines(v, 1);
      flushLines(v, 2);
      for (const fd of [1, 2] as const) if (pending[fd]) v.log(fd === 1 ? 'info' : 'error', pending[fd]!);
      throw new ProcExit(code);
    },
  };
}
