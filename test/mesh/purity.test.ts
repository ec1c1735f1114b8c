/**
 * src/mesh is pure by design (DESIGN.md): nothing it imports, directly or through other src/ modules,
 * may do I/O. This walks the import graph from src/mesh/index.ts and fails on any I/O module.
 */
import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const FORBIDDEN = [
  /^node:(fs|fs\/promises|net|http|https|http2|tls|dgram|dns|child_process|cluster|worker_threads)$/,
  /^(fs|net|http|https|child_process)$/,
  /^undici/,
  /^@kubernetes\/client-node/,
];

function importsOf(file: string): string[] {
  const text = readFileSync(file, 'utf8');
  const specifiers: string[] = [];
  for (const m of text.matchAll(/(?:^|\n)\s*(?:import|export)\s[^'"]*?from\s+['"]([^'"]+)['"]/g))
    specifiers.push(m[1]!);
  for (const m of text.matchAll(/import\(\s*['"]([^'"]+)['"]\s*\)/g)) specifiers.push(m[1]!);
  return specifiers;
}

function walk(entry: string): { files: Set<string>; external: Map<string, string> } {
  const files = new Set<string>();
  const external = new Map<string, string>();
  const stack = [entry];
  while (stack.length > 0) {
    const file = stack.pop()!;
    if (files.has(file)) continue;
    files.add(file);
    for (const spec of importsOf(file)) {
      if (spec.startsWith('.')) stack.push(resolve(dirname(file), spec.replace(/\.js$/, '.ts')));
      else external.set(spec, file);
    }
  }
  return { files, external };
}

describe('src/mesh purity', () => {
  const entry = fileURLToPath(new URL('../../src/mesh/index.ts', import.meta.url));
  const { files, external } = walk(entry);

  it('walks the whole mesh module graph', () => {
    const names = [...files].map((f) => f.slice(f.indexOf('/src/') + 1));
    expect(names).toEqual(
      expect.arrayContaining(['src/mesh/validate.ts', 'src/mesh/install/crd.ts', 'src/oci/reference.ts']),
    );
  });

  it('imports nothing that does I/O', () => {
    const offending = [...external].filter(([spec]) => FORBIDDEN.some((re) => re.test(spec)));
    expect(offending.map(([spec, file]) => `${spec} (from ${file})`)).toEqual([]);
  });
});
