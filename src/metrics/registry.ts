/**
 * Prometheus metrics for the long-running processes (agent, controller): counters, gauges and histograms
 * with labels, rendered in the text exposition format (version 0.0.4) when scraped. Our own rather than
 * prom-client: the agent runs on every node, and prom-client cost ~65 ms of start-up and ~3 MB of heap,
 * plus an event-loop monitor and timers, to do what these few lines do. Only what the processes use is
 * here; nothing runs between scrapes.
 */

export type Labels<L extends string> = Partial<Record<L, string | number>>;

interface MetricOptions<L extends string> {
  name: string;
  help: string;
  labelNames?: readonly L[];
  registers?: Registry[];
  /** called at each scrape, before the values are read (for values computed from a cache) */
  collect?: (this: never) => void;
}

/** Something a registry renders: a metric, or a family of values computed at scrape time. */
export interface Collector {
  render(): string;
}

export class Registry {
  readonly contentType = 'text/plain; version=0.0.4; charset=utf-8';
  private readonly collectors: Collector[] = [];

  register(collector: Collector): void {
    this.collectors.push(collector);
  }

  /** The exposition text (a promise, as scrapes are answered asynchronously elsewhere too). */
  metrics(): Promise<string> {
    return Promise.resolve(this.collectors.map((c) => c.render()).join(''));
  }
}

abstract class Metric<L extends string> implements Collector {
  readonly name: string;
  private readonly help: string;
  private readonly labelNames: readonly L[];
  private readonly collectHook: (() => void) | undefined;
  protected readonly values = new Map<string, { labels: string; value: number }>();

  constructor(
    options: MetricOptions<L>,
    private readonly type: string,
  ) {
    if (!/^[a-zA-Z_:][a-zA-Z0-9_:]*$/.test(options.name))
      throw new Error(`invalid metric name "${options.name}"`);
    this.name = options.name;
    this.help = options.help;
    this.labelNames = options.labelNames ?? [];
    this.collectHook = options.collect?.bind(this as never);
    for (const registry of options.registers ?? []) registry.register(this);
  }

  /** The rendered label set `{a="x",b="y"}` (in declaration order), which is also the key of a value. */
  protected labelText(labels: Labels<L> | undefined, extra = ''): string {
    const parts: string[] = [];
    for (const [key, value] of Object.entries(labels ?? {}) as [L, string | number | undefined][]) {
      if (value === undefined) continue;
      if (!this.labelNames.includes(key))
        throw new Error(`metric ${this.name} has no label "${key}" (labels: ${this.labelNames.join(', ')})`);
    }
    for (const key of this.labelNames) {
      const value = labels?.[key];
      if (value !== undefined) parts.push(`${key}="${escapeLabel(String(value))}"`);
    }
    if (extra) parts.push(extra);
    return parts.length ? `{${parts.join(',')}}` : '';
  }

  protected add(labels: Labels<L> | undefined, delta: number): void {
    const key = this.labelText(labels);
    const entry = this.values.get(key);
    if (entry) entry.value += delta;
    else this.values.set(key, { labels: key, value: delta });
  }

  protected put(labels: Labels<L> | undefined, value: number): void {
    const key = this.labelText(labels);
    this.values.set(key, { labels: key, value });
  }

  render(): string {
    this.collectHook?.();
    let out = `# HELP ${this.name} ${escapeHelp(this.help)}\n# TYPE ${this.name} ${this.type}\n`;
    out += this.samples();
    return out;
  }

  protected samples(): string {
    // An unlabelled metric shows 0 before its first update, as Prometheus clients do.
    if (this.values.size === 0 && this.labelNames.length === 0) return `${this.name} 0\n`;
    let out = '';
    for (const { labels, value } of this.values.values()) out += `${this.name}${labels} ${number(value)}\n`;
    return out;
  }
}

export class Counter<L extends string = never> extends Metric<L> {
  constructor(options: MetricOptions<L>) {
    super(options, 'counter');
  }

  /** inc(), inc(n), inc(labels), inc(labels, n); a counter only goes up. */
  inc(labels?: Labels<L> | number, value?: number): void {
    const [l, v] = typeof labels === 'number' ? [undefined, labels] : [labels, value ?? 1];
    if (!(v >= 0)) throw new Error(`counter ${this.name} cannot be increased by ${v}`);
    this.add(l, v);
  }
}

export class Gauge<L extends string = never> extends Metric<L> {
  constructor(options: Omit<MetricOptions<L>, 'collect'> & { collect?: (this: Gauge<L>) => void }) {
    super(options, 'gauge');
  }

  /** set(n) or set(labels, n) */
  set(labels: Labels<L> | number, value?: number): void {
    if (typeof labels === 'number') this.put(undefined, labels);
    else this.put(labels, value ?? 0);
  }

  inc(labels?: Labels<L> | number, value?: number): void {
    const [l, v] = typeof labels === 'number' ? [undefined, labels] : [labels, value ?? 1];
    this.add(l, v);
  }

  dec(labels?: Labels<L> | number, value?: number): void {
    const [l, v] = typeof labels === 'number' ? [undefined, labels] : [labels, value ?? 1];
    this.add(l, -v);
  }
}

interface Series {
  labels: Record<string, string | number | undefined>;
  counts: number[];
  sum: number;
  count: number;
}

export class Histogram<L extends string = never> extends Metric<L> {
  private readonly buckets: number[];
  private readonly series = new Map<string, Series>();

  constructor(options: MetricOptions<L> & { buckets: number[] }) {
    super(options, 'histogram');
    this.buckets = [...options.buckets].sort((a, b) => a - b);
  }

  /** observe(v) or observe(labels, v) */
  observe(labels: Labels<L> | number, value?: number): void {
    const [l, v] = typeof labels === 'number' ? [undefined, labels] : [labels, value ?? 0];
    const key = this.labelText(l);
    let s = this.series.get(key);
    if (!s) {
      s = { labels: { ...l }, counts: this.buckets.map(() => 0), sum: 0, count: 0 };
      this.series.set(key, s);
    }
    for (let i = 0; i < this.buckets.length; i++) if (v <= this.buckets[i]!) s.counts[i]!++;
    s.sum += v;
    s.count++;
  }

  /** Starts a timer; calling the result observes the seconds since. */
  startTimer(labels?: Labels<L>): () => number {
    const started = process.hrtime.bigint();
    return () => {
      const seconds = Number(process.hrtime.bigint() - started) / 1e9;
      this.observe(labels ?? {}, seconds);
      return seconds;
    };
  }

  protected override samples(): string {
    let out = '';
    for (const s of this.series.values()) {
      const labels = s.labels as Labels<L>;
      this.buckets.forEach((le, i) => {
        out += `${this.name}_bucket${this.labelText(labels, `le="${number(le)}"`)} ${s.counts[i]}\n`;
      });
      out += `${this.name}_bucket${this.labelText(labels, 'le="+Inf"')} ${s.count}\n`;
      out += `${this.name}_sum${this.labelText(labels)} ${number(s.sum)}\n`;
      out += `${this.name}_count${this.labelText(labels)} ${s.count}\n`;
    }
    return out;
  }
}

function number(n: number): string {
  if (Number.isNaN(n)) return 'NaN';
  if (n === Infinity) return '+Inf';
  if (n === -Infinity) return '-Inf';
  return String(n);
}

function escapeLabel(value: string): string {
  return value.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');
}

function escapeHelp(help: string): string {
  return help.replace(/\\/g, '\\\\').replace(/\n/g, '\\n');
}
