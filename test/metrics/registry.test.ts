import { describe, expect, it } from 'vitest';
import { Counter, Gauge, Histogram, Registry, registerProcessMetrics } from '../../src/metrics/index.js';

describe('metrics registry', () => {
  it('renders counters, gauges and histograms in the Prometheus text format', async () => {
    const registry = new Registry();
    const registers = [registry];
    const pulls = new Counter({ name: 'x_pulls_total', help: 'Pulls', labelNames: ['result'], registers });
    new Counter({ name: 'x_bytes_total', help: 'Bytes\nwith a "newline"', registers });
    const present = new Gauge({ name: 'x_present', help: 'Present', registers });
    const seconds = new Histogram({
      name: 'x_seconds',
      help: 'Seconds',
      labelNames: ['result'],
      buckets: [1, 0.1],
      registers,
    });
    pulls.inc({ result: 'success' }, 0);
    pulls.inc({ result: 'success' });
    pulls.inc({ result: 'fail"ure\\' });
    present.set(3);
    present.dec();
    seconds.observe({ result: 'success' }, 0.05);
    seconds.observe({ result: 'success' }, 0.5);
    seconds.observe({ result: 'success' }, 5);
    expect(await registry.metrics()).toBe(
      [
        '# HELP x_pulls_total Pulls',
        '# TYPE x_pulls_total counter',
        'x_pulls_total{result="success"} 1',
        'x_pulls_total{result="fail\\"ure\\\\"} 1',
        '# HELP x_bytes_total Bytes\\nwith a "newline"',
        '# TYPE x_bytes_total counter',
        'x_bytes_total 0',
        '# HELP x_present Present',
        '# TYPE x_present gauge',
        'x_present 2',
        '# HELP x_seconds Seconds',
        '# TYPE x_seconds histogram',
        'x_seconds_bucket{result="success",le="0.1"} 1',
        'x_seconds_bucket{result="success",le="1"} 2',
        'x_seconds_bucket{result="success",le="+Inf"} 3',
        'x_seconds_sum{result="success"} 5.55',
        'x_seconds_count{result="success"} 3',
        '',
      ].join('\n'),
    );
    expect(registry.contentType).toBe('text/plain; version=0.0.4; charset=utf-8');
  });

  it('reads values computed at scrape time through collect()', async () => {
    const registry = new Registry();
    let n = 1;
    new Gauge({
      name: 'x_ready',
      help: 'Ready',
      labelNames: ['ready'],
      registers: [registry],
      collect() {
        this.set({ ready: 'true' }, n);
      },
    });
    expect(await registry.metrics()).toContain('x_ready{ready="true"} 1\n');
    n = 7;
    expect(await registry.metrics()).toContain('x_ready{ready="true"} 7\n');
  });

  it('refuses a label the metric does not declare, and a counter going down', () => {
    const c = new Counter({ name: 'x_total', help: 'X', labelNames: ['a'] });
    expect(() => c.inc({ b: 'x' } as never)).toThrow(/no label "b"/);
    expect(() => c.inc(-1)).toThrow(/cannot be increased by -1/);
    expect(() => new Counter({ name: 'bad name', help: 'X' })).toThrow(/invalid metric name/);
  });

  it('times with startTimer', async () => {
    const registry = new Registry();
    const h = new Histogram({ name: 'x_t', help: 'T', buckets: [60], registers: [registry] });
    const end = h.startTimer();
    expect(end()).toBeGreaterThanOrEqual(0);
    expect(await registry.metrics()).toContain('x_t_count 1\n');
  });

  it('adds process metrics under a prefix, computed when scraped', async () => {
    const registry = new Registry();
    registerProcessMetrics(registry, 'x_');
    const text = await registry.metrics();
    expect(text).toMatch(/^x_process_resident_memory_bytes [1-9]\d*$/m);
    expect(text).toMatch(/^x_process_cpu_seconds_total [\d.e-]+$/m);
    expect(text).toMatch(/^x_process_open_fds \d+$/m);
    expect(text).toMatch(/^x_nodejs_version_info\{version="v\d+/m);
  });
});
