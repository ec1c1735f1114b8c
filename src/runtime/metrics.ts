/**
 * Metrics a filter defines with proxy_define_metric. Counters only grow, gauges move both ways,
 * histograms keep count/sum/min/max of recorded values. `snapshot()` is how the outside reads them.
 */
import { Status, type MetricKind } from './abi.js';

export interface MetricValue {
  name: string;
  kind: MetricKind;
  /** Counter or gauge value; for histograms the sum of recorded values. */
  value: bigint;
  /** Histograms only. */
  count?: number;
  min?: bigint;
  max?: bigint;
}

export class MetricStore {
  private readonly byId = new Map<number, MetricValue>();
  private readonly byName = new Map<string, number>();
  private nextId = 1;

  define(kind: MetricKind, name: string): number {
    const key = `${kind}\0${name}`;
    const existing = this.byName.get(key);
    if (existing !== undefined) return existing;
    const id = this.nextId++;
    this.byId.set(id, kind === 'histogram' ? { name, kind, value: 0n, count: 0 } : { name, kind, value: 0n });
    this.byName.set(key, id);
    return id;
  }

  record(id: number, value: bigint): number {
    const m = this.byId.get(id);
    if (!m) return Status.NOT_FOUND;
    if (m.kind === 'histogram') {
      m.value += value;
      m.count = (m.count ?? 0) + 1;
      m.min = m.min === undefined || value < m.min ? value : m.min;
      m.max = m.max === undefined || value > m.max ? value : m.max;
    } else {
      m.value = value;
    }
    return Status.OK;
  }

  increment(id: number, delta: bigint): number {
    const m = this.byId.get(id);
    if (!m) return Status.NOT_FOUND;
    if (m.kind === 'histogram' || (m.kind === 'counter' && delta < 0n)) return Status.BAD_ARGUMENT;
    m.value += delta;
    return Status.OK;
  }

  get(id: number): { status: number; value?: bigint } {
    const m = this.byId.get(id);
    if (!m) return { status: Status.NOT_FOUND };
    if (m.kind === 'histogram') return { status: Status.BAD_ARGUMENT };
    return { status: Status.OK, value: m.value };
  }

  snapshot(): MetricValue[] {
    return [...this.byId.values()].map((m) => ({ ...m }));
  }
}
