/** Logging, log level, clock and tick timer host functions. */
import { LOG_LEVEL_NAMES, Status } from '../abi.js';
import { u32, type HostGroup, type VmRef } from './guard.js';

export function loggingImports(vm: VmRef): HostGroup {
  return {
    proxy_log(level: number, ptr: number, len: number) {
      const name = LOG_LEVEL_NAMES[level];
      if (name === undefined) return Status.BAD_ARGUMENT;
      const v = vm();
      const text = v.memory.string(u32(ptr), u32(len));
      v.log(name, text);
      return Status.OK;
    },
    proxy_get_log_level(retPtr: number) {
      const v = vm();
      v.memory.setU32(u32(retPtr), LOG_LEVEL_NAMES.indexOf(v.settings.logLevel));
      return Status.OK;
    },
    proxy_get_current_time_nanoseconds(retPtr: number) {
      vm().memory.setU64(u32(retPtr), nowNanos());
      return Status.OK;
    },
    proxy_set_tick_period_milliseconds(period: number) {
      const v = vm();
      v.settings.io.setTickPeriod(u32(period), () => v.tick());
      return Status.OK;
    },
  };
}

export function nowNanos(): bigint {
  return BigInt(Date.now()) * 1_000_000n;
}
