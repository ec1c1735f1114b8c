import { describe, expect, it } from 'vitest';
import { parseDuration } from '../../src/agent/duration.js';
import { MeshwasmError } from '../../src/errors.js';

describe('parseDuration', () => {
  it('reads units, combinations and bare seconds', () => {
    expect(parseDuration('10m', '--gc-grace')).toBe(600_000);
    expect(parseDuration('1h30m', '--gc-grace')).toBe(5_400_000);
    expect(parseDuration('250ms', '--jitter')).toBe(250);
    expect(parseDuration('1.5', '--jitter')).toBe(1500);
  });

  it('names the flag and how to write it when the text is not a duration', () => {
    let error: unknown;
    try {
      parseDuration('ten minutes', '--gc-grace');
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(MeshwasmError);
    expect((error as MeshwasmError).code).toBe('USAGE');
    expect((error as MeshwasmError).message).toContain('--gc-grace');
    expect((error as MeshwasmError).hint).toContain('10m');
  });
});
