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

  it('obtains V8 gc without leaving it exposed to other contexts', () => {
    expect(typeof obtainGc()).toBe('function');
    expect(runInNewContext('typeof gc')).toBe('undefined');
  });
});
