import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { renderCliReference, spliceCliReference } from '../../src/cli/reference.js';

describe('README CLI reference', () => {
  it('matches the command definitions (run `npm run docs:cli` after changing a command)', async () => {
    const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');
    const reference = await renderCliReference();
    expect(reference).toContain('### meshwasm push');
    expect(reference).toContain('--oci-layout');
    expect(spliceCliReference(readme, reference)).toBe(readme);
  });
});
