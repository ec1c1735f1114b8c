#!/usr/bin/env node
// The CLI's entry. CommonJS (bin/package.json): an ES module entry makes Node set up its ES module
// loader first, ~3 ms of every command. It runs what the build left in dist/bundle
// (scripts/bundle-cli.mjs): the command tree, cli/tree.cjs, whose actions load code-split ES modules
// beside it. Where that bundle is missing or older than tsc's output (tsc run alone after a change),
// it runs dist/cli/main.js, and in a checkout without dist/, the TypeScript sources through tsx.
'use strict';
const { statSync } = require('node:fs');
const { join } = require('node:path');

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
  for (const name of AGENT_BUILTINS) require(name);
  const v8 = require('node:v8');
  for (const flag of ['--no-turbofan', '--no-maglev']) {
    try {
      v8.setFlagsFromString(flag);
    } catch {
      // a V8 without that compiler
    }
  }
}

const dist = join(__dirname, '..', 'dist');
const built = join(dist, 'cli', 'main.js');
const bundle = join(dist, 'bundle', 'cli', 'tree.cjs');
const mtime = (path) => statSync(path, { throwIfNoEntry: false })?.mtimeMs;
const bundleTime = mtime(bundle);
const builtTime = mtime(built);
if (bundleTime !== undefined && bundleTime >= (builtTime ?? 0)) {
  require(bundle);
} else if (builtTime !== undefined) {
  importFile(built);
} else {
  import('tsx/esm/api')
    .then(({ register }) => {
      register();
      return importFile(join(__dirname, '..', 'src', 'cli', 'main.ts'));
    })
    .catch(fail);
}

function importFile(path) {
  return import(require('node:url').pathToFileURL(path).href).catch(fail);
}

/** A module that cannot be loaded at all (a broken build): said the way Node says it, with status 1. */
function fail(err) {
  process.exitCode = 1;
  console.error(err);
}
