import { execFileSync } from 'node:child_process';
import { copyFileSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('../..', import.meta.url));

/**
 * The CLI as it ships and as a user types it: the sources compiled with the build config into a cache
 * directory inside the project (so node_modules resolve) as `dist/`, with bin/meshwasm.js beside it, to
 * be run with plain node (tsx would add its compiler's memory). Returns the path of bin/meshwasm.js
 * (or $MESHWASM_BENCH_CLI when set).
 */
export function buildCli(): string {
  // A CLI built elsewhere (e.g. an earlier commit, for before/after figures) can be benchmarked instead.
  if (process.env.MESHWASM_BENCH_CLI) return process.env.MESHWASM_BENCH_CLI;
  const out = join(root, 'node_modules', '.cache', 'meshwasm-bench');
  try {
    execFileSync(
      process.execPath,
      [
        join(root, 'node_modules', 'typescript', 'bin', 'tsc'),
        '-p',
        join(root, 'tsconfig.build.json'),
        '--outDir',
        join(out, 'dist'),
      ],
      { stdio: 'pipe' },
    );
  } catch {
    // Type errors elsewhere in the tree still emit JavaScript; a missing output fails at run time.
  }
  // Under node_modules the project's package.json no longer applies: without a "type" here, Node 20
  // falls back to detecting ES module syntax file by file, which is not how the package runs.
  writeFileSync(join(out, 'package.json'), '{ "type": "module" }\n');
  // The agent runs from the bundle, as it ships (scripts/bundle-cli.mjs).
  execFileSync(process.execPath, [join(root, 'scripts', 'bundle-cli.mjs'), join(out, 'dist')], {
    stdio: 'pipe',
  });
  mkdirSync(join(out, 'bin'), { recursive: true });
  // bin/package.json makes the entry CommonJS.
  for (const file of ['meshwasm.js', 'package.json'])
    copyFileSync(join(root, 'bin', file), join(out, 'bin', file));
  return join(out, 'bin', 'meshwasm.js');
}
