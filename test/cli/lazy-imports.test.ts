/**
 * Every `meshwasm` invocation, `--version` and `--help` included, builds the whole command tree first,
 * so what src/cli/program.ts reaches through static imports is paid by every command. It must stay
 * commander plus small project modules: a verb's action loads the OCI client, undici, pino,
 * prom-client, yaml, the Kubernetes client or the runtime with `await import()` when it runs.
 * This walks the static import graph (dynamic `import()` is not followed) and fails on anything else.
 */
import { readFileSync } from 'node:fs';
import { dirname, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const ALLOWED_PACKAGES = new Set(['commander']);
// Project modules that load heavy packages or much code; none may be reached statically.
const HEAVY_MODULES = [
  'src/oci/session.ts',
  'src/oci/remote/transport.ts',
  'src/log.ts',
  'src/kube/index.ts',
  'src/agent/run.ts',
  'src/controller/index.ts',
  'src/runtime/index.ts',
  'src/sidecar/index.ts',
  'src/mesh/yaml.ts',
];

/** Static `import ... from` and `export ... from` specifiers; `import type` erases at build time. */
function staticImportsOf(file: string): string[] {
  const text = readFileSync(file, 'utf8');
  const specifiers: string[] = [];
  for (const m of text.matchAll(/(?:^|\n)\s*(import|export)\s(type\s)?[^'"]*?from\s+['"]([^'"]+)['"]/g))
    if (!m[2]) specifiers.push(m[3]!);
  return specifiers;
}

function walk(entry: string): { files: Set<string>; packages: Map<string, string> } {
  const files = new Set<string>();
  const packages = new Map<string, string>();
  const stack = [entry];
  while (stack.length > 0) {
    const file = stack.pop()!;
    if (files.has(file)) continue;
    files.add(file);
    for (const spec of staticImportsOf(file)) {
      if (spec.startsWith('.')) stack.push(resolve(dirname(file), spec.replace(/\.js$/, '.ts')));
      else if (!spec.startsWith('node:')) packages.set(spec, relative(root, file));
    }
  }
  return { files, packages };
}

describe('CLI start-up', () => {
  const { files, packages } = walk(resolve(root, 'src/cli/main.ts'));

  it('the command tree imports no package but commander', () => {
    const extra = [...packages].filter(([spec]) => !ALLOWED_PACKAGES.has(spec));
    expect(extra.map(([spec, from]) => `${spec} (from ${from})`)).toEqual([]);
  });

  it('the command tree reaches no heavy project module statically', () => {
    const reached = HEAVY_MODULES.filter((m) => files.has(resolve(root, m)));
    expect(reached).toEqual([]);
  });

  it('walks the verbs (the walk itself is not vacuous)', () => {
    expect(files.has(resolve(root, 'src/cli/pull.ts'))).toBe(true);
    expect(files.has(resolve(root, 'src/cli/agent.ts'))).toBe(true);
    expect(packages.has('commander')).toBe(true);
  });
});
