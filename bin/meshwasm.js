#!/usr/bin/env node
// Runs the built CLI when dist/ exists (the agent from dist/bundle), else the TypeScript sources through
// tsx (development checkouts).
// node:fs comes from process.getBuiltinModule (Node >= 20.16) where it exists: `import ... from
// 'node:fs'` builds its ESM facade, which loads Node's stream modules (~3 ms of every start).
const { existsSync, statSync } = process.getBuiltinModule?.('node:fs') ?? (await import('node:fs'));
const agent = process.argv[2] === 'agent';
// What `meshwasm agent` loads of Node's own modules (node:net's listen loads cluster, child_process
// and dgram); see below.
const AGENT_BUILTINS = [
  ...['stream', 'stream/promises', 'fs/promises', 'os', 'crypto', 'net', 'dns', 'vm', 'module'],
  ...['diagnostics_channel', 'cluster', 'child_process', 'dgram'],
].map((name) => `node:${name}`);
// The node agent runs without V8's optimizing compilers (see withoutOptimizingCompilers in
// src/memory.ts); set here, before anything is loaded, no function gets optimized first, so the
// compiler's code is never paged in.
if (agent && !process.argv.includes('--help')) {
  // Node compiles its own modules from a code cache that V8 accepts only under the flags it was made
  // with: once the flags below change, every built-in module loaded later is compiled from source
  // (the agent's ~15 took ~30 ms instead of ~10). So the ones the agent loads are loaded first.
  for (const name of AGENT_BUILTINS) process.getBuiltinModule?.(name);
  const v8 = process.getBuiltinModule?.('node:v8');
  for (const flag of ['--no-turbofan', '--no-maglev']) {
    try {
      v8?.setFlagsFromString(flag);
    } catch {
      // a V8 without that compiler
    }
  }
}

// The agent runs from the bundle (scripts/bundle-cli.mjs) where it was built: it loads ~60 of the
// project's files, which as ~30 chunks start with ~35 ms less CPU. The other verbs load few files and
// gained nothing (`pull --help` was ~5 ms slower), so they run tsc's output, or else the sources. A
// bundle older than tsc's output (tsc run alone after a change) is not used.
const bundled = new URL('../dist/bundle/main.js', import.meta.url);
const built = new URL('../dist/cli/main.js', import.meta.url);
const mtime = (url) => statSync(url, { throwIfNoEntry: false })?.mtimeMs;
const bundleTime = agent ? mtime(bundled) : undefined;
if (bundleTime !== undefined && bundleTime >= (mtime(built) ?? 0)) {
  await import(bundled.href);
} else if (existsSync(built)) {
  await import(built.href);
} else {
  const { register } = await import('tsx/esm/api');
  register();
  await import(new URL('../src/cli/main.ts', import.meta.url).href);
}
