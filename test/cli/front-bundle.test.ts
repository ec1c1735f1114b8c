/**
 * Every command runs its command tree from dist/bundle/cli/tree.cjs (scripts/bundle-cli.mjs, `npm run
 * build`), one CommonJS file with commander inlined, and what a verb's action loads from the code-split
 * ES modules beside it. A process started as users start it must load nothing else before it acts, print what the
 * unbundled build prints, and keep the exit statuses of errors made on either side. Without a build
 * there is no bundle to check (the sources run through tsx then), and the tests say so by being skipped.
 */
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const bundle = join(root, 'dist', 'bundle', 'cli', 'tree.cjs');
const bin = join(root, 'bin', 'meshwasm.js');

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

function node(args: string[], env: NodeJS.ProcessEnv = {}): Promise<Run> {
  return new Promise((done) => {
    execFile(process.execPath, args, { env: { ...process.env, ...env } }, (err, stdout, stderr) =>
      done({ code: err ? Number(err.code) : 0, stdout, stderr }),
    );
  });
}

describe.skipIf(!existsSync(bundle))('the command tree bundle (built by npm run build)', () => {
  const work = mkdtempSync(join(tmpdir(), 'meshwasm-front-'));
  afterAll(() => rmSync(work, { recursive: true, force: true }));

  it('pull --help loads the entry and the bundle only, and prints what dist/cli prints', async () => {
    const record = join(work, 'modules.txt');
    const recorder = join(root, 'test/support/record-modules.mjs');
    const run = await node(['--import', recorder, bin, 'pull', '--help'], { RECORD_MODULES_FILE: record });
    expect(run.code).toBe(0);
    const loaded = readFileSync(record, 'utf8')
      .split('\n')
      .filter((line) => line.includes(root))
      .map((line) => line.replace(/^file:\/\//, '').slice(root.length + 1))
      .filter((path) => path !== 'test/support/record-modules.mjs');
    expect([...new Set(loaded)].sort()).toEqual(['bin/meshwasm.js', 'dist/bundle/cli/tree.cjs']);
    const unbundled = await node([join(root, 'dist', 'cli', 'main.js'), 'pull', '--help']);
    expect(run.stdout).toContain('Usage: meshwasm pull [options] <reference>');
    expect(run.stdout).toBe(unbundled.stdout);
  });

  it('keeps exit statuses and hints of errors made in the bundle and in what an action loads', async () => {
    // A usage error from an option parser (the bundle's copy of errors.ts): status 2.
    const usage = await node([bin, 'pull', 'localhost:1/x:1', '--max-module-size', 'lots']);
    expect(usage.code).toBe(2);
    expect(usage.stderr).toContain('--max-module-size');
    // Not found, from the OCI layout reader that pull's action loads: status 3, with its hint.
    const missing = await node([bin, 'pull', '--oci-layout', `${join(work, 'no-layout')}:v1`]);
    expect(missing.code).toBe(3);
    expect(missing.stderr).toMatch(/^Error: .*\n {2}hint: /);
  });
});
