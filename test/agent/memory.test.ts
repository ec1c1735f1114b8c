import { runInNewContext } from 'node:vm';
import { describe, expect, it } from 'vitest';
import { BufferReclaimer } from '../../src/agent/memory.js';

describe('BufferReclaimer', () => {
  it('asks for a young-generation collection after every 2 MiB received', () => {
    const calls: unknown[] = [];
    const r = new BufferReclaimer((options) => calls.push(options));
    for (let i = 0; i < 32; i++) r.received(64 * 1024);
    expect(calls).toEqual([{ type: 'minor' }]);
    for (let i = 0; i < 64; i++) r.received(64 * 1024);
    expect(calls).toHaveLength(3);
  });

  it('obtains V8 gc by itself and leaves it unexposed to other contexts', () => {
    const r = new BufferReclaimer();
    expect(() => {
      for (let i = 0; i < 8; i++) r.received(1024 * 1024);
    }).not.toThrow();
    expect(runInNewContext('typeof gc')).toBe('undefined');
  });
});
