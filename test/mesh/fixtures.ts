/** Test inputs shared by the mesh tests: the seed's filter.yaml (our copy under test/golden) and variants. */
import { readFileSync } from 'node:fs';
import { parse } from 'yaml';

/** Loosely typed JSON, so tests can poke at any field of a document. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- tests edit arbitrary fields of YAML documents
export type Loose = Record<string, any>;

export const goldenDir = new URL('../golden/', import.meta.url);

export function seedFilterDeployment(): Loose {
  return parse(readFileSync(new URL('filter.yaml', goldenDir), 'utf8'));
}

/** The seed's CR with `edit` applied to a deep copy. */
export function variant(edit: (cr: Loose) => void): Loose {
  const cr = structuredClone(seedFilterDeployment());
  edit(cr);
  return cr;
}

export const DIGEST = 'sha256:0f7c6a0a5e4a3a1c9d2b8e7f6a5b4c3d2e1f0a9b8c7d6e5f4a3b2c1d0e9f8a7b';
