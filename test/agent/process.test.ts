/**
 * The agent as users run it: `./bin/meshwasm.js agent ...` in a child process. SIGKILL in the middle of
 * a large pull and a restart, SIGTERM in the middle of one, a read-only directory, a wrong password and
 * then a rotated one (with no secret in any log line).
 */
import { execFileSync } from 'node:child_process';
import {
  chmodSync,
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import type { OciSession } from '../../src/oci/index.js';
import type { FaultProxy } from '../support/fault-proxy.js';
import { startRegistry, type TestRegistry } from '../support/registry.js';
import { moduleWithCustomSection } from '../support/wasm-fixtures.js';
import {
  eventually,
  getJson,
  pushModule,
  pushSession,
  spawnAgent,
  tempDir,
  type Pushed,
  useProxiedRegistry,
} from './helpers.js';

let registry: TestRegistry;
let proxy: FaultProxy;
let session: OciSession;
let large: Pushed;

const LARGE = 24 * 1024 * 1024;

const fixture = useProxiedRegistry();

beforeAll(async () => {
  ({ registry, proxy, session } = fixture);
  large = await pushModule(
    session,
    registry.host,
    'proc/large',
    'v1',
    moduleWithCustomSection(LARGE, 'large'),
  );
});

const viaProxy = (p: Pushed) => fixture.viaProxy(p);
const baseArgs = [
  '--plain-http',
  '--port',
  '0',
  '--host',
  '127.0.0.1',
  '--jitter',
  '0',
  '--retry-base',
  '200ms',
];

function imagesFileWith(refs: string[]): string {
  const file = join(tempDir(), 'images');
  writeFileSync(file, `${refs.join('\n')}\n`);
  return file;
}

/** Waits until a temporary file of the pull exists and has received some bytes. */
async function partialGrowing(dir: string): Promise<string> {
  return eventually(() => {
    const partial = readdirSync(dir).find((n) => n.startsWith(`.${large.hex}.wasm.partial-`));
    if (!partial || statSync(join(dir, partial)).size === 0) throw new Error('no partial file with data yet');
    return partial;
  }, 40_000);
}

describe('meshwasm agent (child process)', () => {
  it('survives SIGKILL in the middle of a large pull: no partial module visible, and the pull completes after a restart', async () => {
    const dir = join(tempDir(), 'filters');
    const imagesFile = imagesFileWith([viaProxy(large)]);
    proxy.throttleBlobs(2 * 1024 * 1024);
    const first = spawnAgent(['--dir', dir, '--images-file', imagesFile, ...baseArgs]);
    try {
      await partialGrowing(dir);
      first.child.kill('SIGKILL');
      expect((await first.exited).signal).toBe('SIGKILL');
    } finally {
      proxy.throttleBlobs(undefined);
      first.child.kill('SIGKILL');
    }
    // Only the dot-file of the interrupted write: the module's own name never held partial content.
    expect(existsSync(join(dir, `${large.hex}.wasm`))).toBe(false);
    expect(readdirSync(dir).every((n) => n.startsWith('.'))).toBe(true);

    const second = spawnAgent(['--dir', dir, '--images-file', imagesFile, ...baseArgs]);
    try {
      const opened = await second.waitForLog((l) => l.msg === 'module directory opened');
      expect(opened.partials).toBeGreaterThanOrEqual(1);
      await second.waitForLog((l) => l.msg === 'module pulled', 60_000);
      expect(readdirSync(dir).sort()).toEqual([`${large.hex}.json`, `${large.hex}.wasm`]);
      expect(readFileSync(join(dir, `${large.hex}.wasm`)).equals(large.module)).toBe(true);
      const port = await second.port();
      expect((await getJson(port, '/readyz')).status).toBe(200);
    } finally {
      second.child.kill('SIGTERM');
      await second.exited;
    }
  });

  it('abandons an in-flight write on SIGTERM and exits cleanly, leaving no temporary file', async () => {
    const dir = join(tempDir(), 'filters');
    proxy.throttleBlobs(2 * 1024 * 1024);
    const agent = spawnAgent(['--dir', dir, '--images-file', imagesFileWith([viaProxy(large)]), ...baseArgs]);
    try {
      await partialGrowing(dir);
      agent.child.kill('SIGTERM');
      const exit = await agent.exited;
      expect(exit.code).toBe(0);
      expect(readdirSync(dir)).toEqual([]);
      expect(agent.logs.some((l) => l.msg === 'pull abandoned at shutdown')).toBe(true);
    } finally {
      proxy.throttleBlobs(undefined);
      agent.child.kill('SIGKILL');
    }
  });

  it('refuses a read-only directory with a clear error', async () => {
    const dir = join(tempDir(), 'ro');
    mkdirSync(dir);
    let mounted = false;
    if (process.getuid?.() === 0) {
      // root ignores permission bits; a read-only filesystem is what a root agent would hit
      execFileSync('mount', ['-t', 'tmpfs', '-o', 'ro,size=1m', 'tmpfs', dir]);
      mounted = true;
    } else chmodSync(dir, 0o555);
    try {
      const agent = spawnAgent([
        '--dir',
        dir,
        '--images-file',
        imagesFileWith([viaProxy(large)]),
        ...baseArgs,
      ]);
      const exit = await agent.exited;
      expect(exit.code).toBe(1);
      expect(agent.stderr()).toContain(`the module directory ${dir} is not writable`);
      expect(agent.stderr()).toMatch(/hint: (the filesystem is mounted read-only|check the permissions)/);
      expect(agent.stderr()).not.toMatch(/\n\s+at /); // no stack trace without --debug
    } finally {
      if (mounted) execFileSync('umount', [dir]);
    }
  });

  it('explains what to do without a cluster or an images file, and rejects a bad duration', async () => {
    const noCluster = spawnAgent(['--dir', join(tempDir(), 'filters'), ...baseArgs], {
      KUBECONFIG: join(tempDir(), 'no-such-kubeconfig'),
      KUBERNETES_SERVICE_HOST: '',
      HOME: tempDir(),
    });
    expect((await noCluster.exited).code).toBe(1);
    expect(noCluster.stderr()).toContain('--images-file');
    const badFlag = spawnAgent(['--dir', join(tempDir(), 'filters'), '--gc-grace', 'soon', ...baseArgs]);
    expect((await badFlag.exited).code).toBe(2);
    expect(badFlag.stderr()).toContain('--gc-grace: "soon" is not a duration');
  });

  it('fails with a wrong password, succeeds once the registry config is rotated, and never logs a secret', async () => {
    const secured = await startRegistry({ auth: 'basic', username: 'agent', password: 'right-Pa55word' });
    try {
      const pusher = pushSession({ username: 'agent', password: 'right-Pa55word' });
      const mod = await pushModule(
        pusher,
        secured.host,
        'auth/filter',
        'v1',
        moduleWithCustomSection(3000, 'auth'),
      );
      await pusher.close();
      const configFile = join(tempDir(), 'config.json');
      const config = (password: string) =>
        JSON.stringify({
          auths: { [secured.host]: { auth: Buffer.from(`agent:${password}`).toString('base64') } },
        });
      writeFileSync(configFile, config('wrong-Pa55word'), { mode: 0o600 });
      const dir = join(tempDir(), 'filters');
      const agent = spawnAgent([
        '--dir',
        dir,
        '--images-file',
        imagesFileWith([mod.pinned]),
        '--registry-config',
        configFile,
        ...baseArgs,
        '--retry-max',
        '1s',
      ]);
      try {
        const failure = await agent.waitForLog((l) => l.msg === 'module pull failed');
        expect(failure.code).toBe('UNAUTHORIZED');
        expect(existsSync(join(dir, `${mod.hex}.wasm`))).toBe(false);
        writeFileSync(configFile, config('right-Pa55word'), { mode: 0o600 });
        await agent.waitForLog((l) => l.msg === 'module pulled');
        expect(readFileSync(join(dir, `${mod.hex}.wasm`)).equals(mod.module)).toBe(true);
      } finally {
        agent.child.kill('SIGTERM');
        await agent.exited;
      }
      const output = agent.stdout() + agent.stderr();
      for (const secret of [
        'wrong-Pa55word',
        'right-Pa55word',
        Buffer.from('agent:right-Pa55word').toString('base64'),
      ])
        expect(output).not.toContain(secret);
    } finally {
      await secured.destroy();
    }
  });
});
