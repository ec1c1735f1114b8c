import { describe, expect, it } from 'vitest';
import { SharedState } from '../../src/runtime/index.js';
import { loadFilter } from '../../src/testing/index.js';
import { watFixture } from '../fixtures/wasm/index.js';

const settle = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

describe('root-context host functions', () => {
  it('defines counters, gauges and histograms that are readable from outside', async () => {
    const filter = await loadFilter(await watFixture('root'));
    for (let i = 0; i < 3; i++) (await filter.newStream()).sendRequestHeaders({ ':path': '/' });
    expect(filter.metric('requests_total')).toBe(3n);
    expect(filter.metric('in_flight')).toBe(42n);
    const histogram = filter.metrics().find((m) => m.name === 'body_sizes')!;
    expect(histogram).toMatchObject({ kind: 'histogram', count: 6, value: 36n, min: 5n, max: 7n });
    // a counter cannot go down (BAD_ARGUMENT), get_metric reads counters, histograms have no single value
    expect(filter.messages()).toContain('counter-decrement:2');
    expect(filter.messages()).toContain('counter:3');
    expect(filter.messages()).toContain('histogram-get:2');
  });

  it('runs proxy_on_tick at the period the filter set', async () => {
    const filter = await loadFilter(await watFixture('root'));
    expect(filter.tickPeriodMs).toBe(100);
    filter.tick(3);
    expect(filter.metric('ticks')).toBe(3n);
  });

  it('compare-and-swaps shared data and delivers queue items to proxy_on_queue_ready', async () => {
    const filter = await loadFilter(await watFixture('root'));
    expect(filter.messages()).toContain('time-ok');
    filter.tick();
    await settle();
    const logs = filter.messages();
    expect(logs).toContain('cas-stale:8'); // CAS_MISMATCH for the stale cas
    expect(logs).toContain('dequeued:item');
    expect(logs).toContain('empty:7'); // EMPTY on the second dequeue
    expect(logs).toContain('shared:v2');
  });

  it('shares data between filters given the same SharedState and vm id', async () => {
    const shared = new SharedState();
    await loadFilter(await watFixture('root'), { shared, vmId: 'vm-a' });
    expect(new TextDecoder().decode(shared.getData('vm-a', 'key')?.value)).toBe('v1');
    expect(shared.getData('vm-b', 'key')).toBeUndefined();
  });
});
