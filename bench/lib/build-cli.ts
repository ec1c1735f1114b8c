import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('../..', import.meta.url));

/**
 * The CLI as it ships: the sources compiled with the build config into a cache directory inside the
 * project (so node_modules resolve), to be run with plain node; tsx would add its compiler's memory.
 * Returns the path of cli/main.js (or $MESHWASM_BENCH_CLI when set).
 */
export function buildCli(): string {
  // A CLI built elsewhere (e.g. an earlier commit, for before/after figures) can be benchmarked instead.
  if (process.env.MESHWASM_BENCH_CLI) return process.env.MESHWASM_BENCH_CLI;
  const out = join(root, 'node_modules', '.cache', 'meshwasm-bench-dist');
  try {
    execFileSync(
      process.execPath,
      [
        join(root, 'node_modules', 'typescript', 'bin', 'tsc'),
        '-p',
        join(root, 'tsconfig.build.json'),
        '--outDir',
        out,
      ],
      { stdio: 'pipe' },
    );
  } catch {
    // Type errors elsewhere in the tree still emit JavaScript; a missing output fails at run time.
  }
  return join(out, 'cli', 'main.js');
}
