import { describe, expect, it } from 'vitest';
import { loadFilter } from '../../src/testing/index.js';
import { fixturePath, watFixture } from '../fixtures/wasm/index.js';

describe('meshwasm/testing harness', () => {
  it('loads a filter from bytes or from a path', async () => {
    const fromBytes = await loadFilter(await watFixture('lifecycle'));
    expect(fromBytes.messages()[0]).toBe('initialize');
    const missing = await loadFilter(fixturePath('does-not-exist.wasm')).catch((e: unknown) => e as Error);
    expect((missing as NodeJS.ErrnoException).code).toBe('ENOENT');
  });

  it('filters recorded logs by level', async () => {
    const filter = await loadFilter(await watFixture('wasi'));
    expect(filter.messages('error')).toEqual(['oops on stderr']);
  });

  it('records only logs at or above the chosen level', async () => {
    const filter = await loadFilter(await watFixture('wasi'), { logLevel: 'error' });
    expect(filter.logs.map((l) => l.level)).toEqual(['error']);
  });

  it('allows any cluster unless clusters are listed', async () => {
    const open = await loadFilter(await watFixture('httpcall'));
    const stream = await open.newStream();
    stream.sendRequestHeaders({ ':path': '/unknown' });
    expect(open.pendingCalls.map((c) => c.cluster)).toEqual(['nope']);
  });

  it('ticking a filter without a timer does nothing', async () => {
    const filter = await loadFilter(await watFixture('headers'));
    expect(filter.tickPeriodMs).toBe(0);
    filter.tick(5);
    expect(filter.metrics()).toEqual([]);
  });
});
