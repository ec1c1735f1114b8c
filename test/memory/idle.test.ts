import { constants, PerformanceObserver } from 'node:perf_hooks';
import { runInNewContext } from 'node:vm';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { IdleCollector, obtainGc } from '../../src/memory.js';

describe('IdleCollector', () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  it('runs one full collection once no work was reported for the quiet period', () => {
    vi.useFakeTimers();
    const calls: unknown[] = [];
    const idle = new IdleCollector((o) => calls.push(o), 60);
    idle.worked();
    vi.advanceTimersByTime(30);
    idle.worked(); // postpones it
    vi.advanceTimersByTime(40);
    expect(calls).toEqual([]);
    vi.advanceTimersByTime(60);
    expect(calls).toEqual([{ type: 'major' }]);
    idle.worked();
    idle.stop();
    vi.advanceTimersByTime(100);
    expect(calls).toHaveLength(1);
  });

  it('tries again while the young generation has not shrunk, a few times at most', () => {
    vi.useFakeTimers();
    const calls: unknown[] = [];
    let young = 32 << 20;
    const idle = new IdleCollector(
      (o) => calls.push(o),
      60,
      () => young,
    );
    idle.worked();
    vi.advanceTimersByTime(60);
    expect(calls).toHaveLength(1); // too soon after unreported work: new space still 32 MB
    young = 1 << 20;
    vi.advanceTimersByTime(60);
    expect(calls).toHaveLength(2); // shrank: no more tries
    vi.advanceTimersByTime(600);
    expect(calls).toHaveLength(2);
    young = 32 << 20; // a burst that never lets it shrink: five tries, then it waits for the next work
    idle.worked();
    vi.advanceTimersByTime(6000);
    expect(calls).toHaveLength(7);
    idle.stop();
  });

  it('obtains V8 gc without leaving it exposed to other contexts', () => {
    expect(typeof obtainGc()).toBe('function');
    expect(runInNewContext('typeof gc')).toBe('undefined');
  });

  // Node 20's V8 reads any argument of gc() as "minor": a major request must reach it without one.
  it.each([
    ['major', constants.NODE_PERFORMANCE_GC_MAJOR],
    ['minor', constants.NODE_PERFORMANCE_GC_MINOR],
  ] as const)('a %s request runs that kind of collection', async (type, kind) => {
    const collect = obtainGc()!;
    const kinds = await new Promise<number[]>((resolve) => {
      const observer = new PerformanceObserver((list) => {
        observer.disconnect();
        resolve(list.getEntries().map((e) => (e as { detail?: { kind: number } }).detail?.kind ?? -1));
      });
      observer.observe({ entryTypes: ['gc'] });
      collect({ type });
    });
    expect(kinds).toContain(kind);
    if (type === 'major') expect(kinds).not.toContain(constants.NODE_PERFORMANCE_GC_MINOR);
  });
});
