import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('../..', import.meta.url));
/** Where Debian's golang-oras-oras-go-dev puts oras-go v1 and its dependencies (GOPATH layout). */
const DEBIAN_GOPATH = '/usr/share/gocode';

/**
 * Builds bench/oras-pull (the oras-go peer) into a cache directory inside the project and returns the
 * binary's path, or undefined (with the reason on stderr) when Go or the oras-go sources are absent.
 * Offline: GOPATH mode against the Debian packages, no module download.
 */
export function buildOrasPull(): string | undefined {
  if (spawnSync('go', ['version']).status !== 0) {
    process.stderr.write('bench: no Go toolchain (apt-get install golang-go); the oras-go peer is skipped\n');
    return undefined;
  }
  if (!existsSync(join(DEBIAN_GOPATH, 'src', 'oras.land', 'oras-go', 'pkg', 'oras'))) {
    process.stderr.write(
      'bench: no oras-go sources (apt-get install golang-oras-oras-go-dev); the oras-go peer is skipped\n',
    );
    return undefined;
  }
  const cache = join(root, 'node_modules', '.cache', 'meshwasm-bench-go');
  const out = join(cache, 'oras-pull');
  execFileSync('go', ['build', '-o', out, join(root, 'bench', 'oras-pull', 'main.go')], {
    stdio: ['ignore', 'ignore', 'inherit'],
    env: {
      ...process.env,
      GO111MODULE: 'off',
      GOPATH: DEBIAN_GOPATH,
      GOCACHE: join(cache, 'gocache'),
      GOFLAGS: '',
    },
  });
  return out;
}
