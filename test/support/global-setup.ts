/**
 * Builds the example filter (npm run build:filter) before the tests when its .wasm is missing or older
 * than any of its sources, so tests always run the filter the sources describe.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, renameSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('../..', import.meta.url));
const example = join(root, 'examples/header-filter');
export const HEADER_FILTER_WASM = join(example, 'build/header-filter.wasm');

function newestSource(): number {
  const files = [join(example, 'asconfig.json'), join(root, 'package-lock.json')];
  for (const f of readdirSync(join(example, 'assembly'))) files.push(join(example, 'assembly', f));
  return Math.max(...files.filter((f) => existsSync(f)).map((f) => statSync(f).mtimeMs));
}

export default function setup(): void {
  if (existsSync(HEADER_FILTER_WASM) && statSync(HEADER_FILTER_WASM).mtimeMs >= newestSource()) return;
  // Build beside the target and rename, so a test run starting in parallel never reads half a file.
  const partial = `${HEADER_FILTER_WASM}.${process.pid}.partial`;
  execFileSync('npm', ['run', '--silent', 'build:filter', '--', '--outFile', partial], {
    cwd: root,
    stdio: 'inherit',
  });
  renameSync(partial, HEADER_FILTER_WASM);
}
