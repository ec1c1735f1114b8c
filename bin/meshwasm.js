#!/usr/bin/env node
// Runs the built CLI when dist/ exists, else the TypeScript sources through tsx (development checkouts).
// node:fs comes from process.getBuiltinModule (Node >= 20.16) where it exists: `import ... from
// 'node:fs'` builds its ESM facade, which loads Node's stream modules (~3 ms of every start).
const { existsSync } = process.getBuiltinModule?.('node:fs') ?? (await import('node:fs'));
// The node agent runs without V8's optimizing compilers (see withoutOptimizingCompilers in
// src/memory.ts); set here, before anything is loaded, no function gets optimized first, so the
// compiler's code is never paged in.
if (process.argv[2] === 'agent' && !process.argv.includes('--help')) {
  const v8 = process.getBuiltinModule?.('node:v8');
  for (const flag of ['--no-turbofan', '--no-maglev']) {
    try {
      v8?.setFlagsFromString(flag);
    } catch {
      // a V8 without that compiler
    }
  }
}

const built = new URL('../dist/cli/main.js', import.meta.url);
if (existsSync(built)) {
  await import(built.href);
} else {
  const { register } = await import('tsx/esm/api');
  register();
  await import(new URL('../src/cli/main.ts', import.meta.url).href);
}
