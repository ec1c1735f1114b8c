/**
 * Builds the C proxy-wasm filters in test/fixtures/c with Debian's clang, wasm-ld and wasi-libc, for
 * the tests' set-up: a second toolchain next to AssemblyScript and WAT, from sources in the repo (no
 * binary is committed). One build per test file run, in a temporary directory; about a second in all.
 * A missing toolchain fails the tests, naming the Debian packages to install (npm test's pretest step,
 * scripts/test-deps.sh, installs them).
 */
import { execFile } from 'node:child_process';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const run = promisify(execFile);
const dir = fileURLToPath(new URL('../fixtures/c/', import.meta.url));
export const C_TOOLCHAIN_PACKAGES = 'clang lld wasi-libc libclang-rt-14-dev-wasm32';

export interface CFilters {
  /** wasm32-unknown-unknown, no libc. */
  bare: string;
  /** wasm32-wasi reactor on wasi-libc (`_initialize`). */
  wasiReactor: string;
  /** wasm32-wasi command on wasi-libc (`_start` -> main). */
  wasiCommand: string;
  /** wasm32-unknown-unknown, root context callbacks only. */
  rootOnly: string;
}

const BARE = ['--target=wasm32', '-nostdlib', '-Wl,--no-entry'];
const WASI = ['--target=wasm32-wasi', '--sysroot=/usr', '-DWITH_WASI'];

export async function buildCFilters(): Promise<CFilters> {
  const out = await mkdtemp(join(tmpdir(), 'meshwasm-c-filters-'));
  const builds: Array<[keyof CFilters, string, string[]]> = [
    ['bare', 'filter.c', BARE],
    ['wasiReactor', 'filter.c', [...WASI, '-mexec-model=reactor']],
    ['wasiCommand', 'filter.c', [...WASI, '-mexec-model=command', '-DWITH_MAIN']],
    ['rootOnly', 'root-only.c', BARE],
  ];
  const files = {} as CFilters;
  await Promise.all(
    builds.map(async ([name, source, flags]) => {
      const file = join(out, `${name}.wasm`);
      try {
        await run('clang', [...flags, '-O2', '-Wall', '-Werror', '-o', file, join(dir, source)]);
      } catch (err) {
        const e = err as NodeJS.ErrnoException & { stderr?: string };
        const why = e.code === 'ENOENT' ? 'clang is not installed' : (e.stderr ?? e.message).trim();
        throw new Error(
          `cannot build the C test filter ${name} (${source}): ${why}\n` +
            `install the toolchain: sudo apt-get install -y ${C_TOOLCHAIN_PACKAGES} (npm test's pretest step does it)`,
        );
      }
      files[name] = file;
    }),
  );
  return files;
}
