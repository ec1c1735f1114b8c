/** Metric host functions: define, record, increment, get. */
import { MetricType, Status, type MetricKind } from '../abi.js';
import { u32, type HostGroup, type VmRef } from './guard.js';

const KINDS: Record<number, MetricKind> = {
  [MetricType.COUNTER]: 'counter',
  [MetricType.GAUGE]: 'gauge',
  [MetricType.HISTOGRAM]: 'histogram',
};

export function metricImports(vm: VmRef): HostGroup {
  return {
    proxy_define_metric(type: number, nPtr: number, nLen: number, retId: number) {
      const kind = KINDS[type];
      if (!kind) return Status.BAD_ARGUMENT;
      const v = vm();
      const name = v.memory.string(u32(nPtr), u32(nLen));
      v.memory.setU32(u32(retId), 0);
      v.memory.setU32(u32(retId), v.metrics.define(kind, name));
      return Status.OK;
    },
    proxy_record_metric(id: number, value: bigint) {
      return vm().metrics.record(u32(id), BigInt.asUintN(64, value));
    },
    proxy_increment_metric(id: number, delta: bigint) {
      return vm().metrics.increment(u32(id), BigInt.asIntN(64, delta));
    },
    proxy_get_metric(id: number, retValue: number) {
      const v = vm();
      const { status, value } = v.metrics.get(u32(id));
      if (value !== undefined) v.memory.setU64(u32(retValue), value);
      return status;
    },
  };
}
