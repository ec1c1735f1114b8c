/**
 * Golden-file comparison. `UPDATE_GOLDEN=1 npx vitest run test/mesh` rewrites the files; review the diff
 * before committing, since the golden files are the reviewed contract.
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { expect } from 'vitest';
import { goldenDir } from './fixtures.js';

export function expectGolden(name: string, actual: string): void {
  const file = new URL(name, goldenDir);
  if (process.env.UPDATE_GOLDEN === '1' || !existsSync(file)) writeFileSync(file, actual);
  expect(actual).toBe(readFileSync(file, 'utf8'));
}
