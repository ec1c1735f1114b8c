/**
 * The agent runs from dist/bundle (scripts/bundle-cli.mjs, `npm run build`): the command tree with
 * commander inlined, then the agent's code-split modules, which must keep what src/ loads lazily lazy.
 * A process started as users start it (bin/meshwasm.js, files mode) must load no package, and its code
 * from the bundle. Without a build there is no bundle
 * to check (the sources run through tsx then), and the test says so by being skipped.
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const bundle = join(root, 'dist', 'bundle', 'cli', 'tree.cjs');

describe.skipIf(!existsSync(bundle))('the agent bundle (built by npm run build)', () => {
  const work = mkdtempSync(join(tmpdir(), 'meshwasm-bundle-'));
  afterAll(() => rmSync(work, { recursive: true, force: true }));

  it('starts the agent in files mode from the bundle, loading no package', async () => {
    const record = join(work, 'modules.txt');
    const images = join(work, 'images');
    writeFileSync(images, '');
    writeFileSync(join(work, 'config.json'), '{}');
    const child = spawn(
      process.execPath,
      [
        '--import',
        join(root, 'test/support/record-modules.mjs'),
        join(root, 'bin/meshwasm.js'),
        'agent',
        ...['--images-file', images, '--dir', join(work, 'modules'), '--plain-http'],
        ...['--registry-config', join(work, 'config.json'), '--host', '127.0.0.1', '--port', '0'],
      ],
      { env: { ...process.env, RECORD_MODULES_FILE: record, MESHWASM_LOG_LEVEL: 'info' } },
    );
    const exited = new Promise((done) => child.once('exit', done));
    await new Promise<void>((ready, fail) => {
      createInterface({ input: child.stdout }).on('line', (line) => {
        if (line.includes('first sync finished')) ready();
      });
      child.once('exit', (code) => fail(new Error(`the agent exited (${code}) before it was ready`)));
    });
    // The CommonJS modules are recorded as the process exits: SIGTERM is sent once the agent stops on
    // it (its handler is installed a moment after ready), not while the default action still kills.
    await new Promise((settle) => setTimeout(settle, 300));
    child.kill('SIGTERM');
    await exited;
    const loaded = readFileSync(record, 'utf8').split('\n');
    const packages = new Set(
      loaded.map((line) => /\/node_modules\/((?:@[^/]+\/)?[^/]+)\//.exec(line)?.[1]).filter(Boolean),
    );
    expect([...packages]).toEqual([]);
    expect(loaded.filter((line) => line.includes('/dist/bundle/')).length).toBeGreaterThan(5);
    expect(loaded.filter((line) => line.includes('/dist/cli/'))).toEqual([]);
  });
});
