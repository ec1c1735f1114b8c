/**
 * A MeshwasmError is one to `instanceof` whichever copy of src/errors.ts made it: the CLI's command
 * tree runs from a bundle with its own copy (scripts/bundle-cli.mjs), and what an action loads has
 * another. Two copies are made here by loading the module twice.
 */
import { describe, expect, it, vi } from 'vitest';

async function freshCopy(): Promise<typeof import('../src/errors.js')> {
  vi.resetModules();
  return import('../src/errors.js');
}

describe('MeshwasmError across copies of its module', () => {
  it('is recognized, mapped to its exit status and described with its hint by the other copy', async () => {
    const ours = await freshCopy();
    const theirs = await freshCopy();
    expect(theirs.MeshwasmError).not.toBe(ours.MeshwasmError);
    const notFound = new theirs.MeshwasmError('NOT_FOUND', 'v1: not found', { hint: 'check the tag' });
    expect(notFound instanceof ours.MeshwasmError).toBe(true);
    expect(ours.exitCodeFor(notFound)).toBe(3);
    expect(ours.describeError(notFound)).toBe('v1: not found\n  hint: check the tag');
    expect(ours.isMeshwasmError(notFound, 'NOT_FOUND')).toBe(true);
  });

  it('is not matched by things that only look like one', async () => {
    const { MeshwasmError, exitCodeFor } = await freshCopy();
    const lookalike = Object.assign(new Error('x'), { name: 'MeshwasmError', code: 'NOT_FOUND' });
    expect(lookalike instanceof MeshwasmError).toBe(false);
    expect(exitCodeFor(lookalike)).toBe(1);
    for (const value of [null, undefined, 'NOT_FOUND', 3, {}])
      expect(value instanceof MeshwasmError).toBe(false);
  });

  it('leaves subclasses to their prototype chain', async () => {
    const { MeshwasmError } = await freshCopy();
    class Narrower extends MeshwasmError {}
    const plain = new MeshwasmError('IO', 'disk full');
    const narrow = new Narrower('IO', 'disk full');
    expect(narrow instanceof MeshwasmError).toBe(true);
    expect(narrow instanceof Narrower).toBe(true);
    expect(plain instanceof Narrower).toBe(false);
  });
});
