/**
 * Every `meshwasm` invocation pays for what it loads before it does anything, so the CLI loads by
 * what was typed (src/cli/main.ts, program.ts): `--version` loads nothing but main and version; a
 * verb loads commander, the command tree and that one verb's file; only the verb's action loads the
 * OCI client, the logger, the metrics, yaml, the Kubernetes client or the runtime, with `await import()`.
 * Two checks: the static import graph of each file the CLI loads up front (dynamic `import()` is not
 * followed), and what real processes load, recorded by a loader hook.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';
import { DEFAULT_MAX_MODULE_SIZE, parseSize } from '../../src/cli/oci-options.js';
import { buildProgram, VERB_NAMES } from '../../src/cli/program.js';
import { DEFAULT_MAX_MODULE_BYTES } from '../../src/oci/wasm-module.js';
import { VERSION } from '../../src/cli/version.js';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const cli = (file: string) => resolve(root, 'src/cli', file);
// Project modules that load heavy packages or much code; none may be reached before an action runs.
const HEAVY_MODULES = [
  'src/oci/session.ts',
  'src/oci/remote/transport.ts',
  'src/oci/wasm-image.ts',
  'src/oci/wasm-module.ts',
  'src/kube/index.ts',
  'src/agent/run.ts',
  'src/controller/index.ts',
  'src/runtime/index.ts',
  'src/sidecar/index.ts',
  'src/sign/index.ts',
  'src/mesh/yaml.ts',
];

/** Static `import ... from` and `export ... from` specifiers; `import type` erases at build time. */
function staticImportsOf(file: string): string[] {
  const text = readFileSync(file, 'utf8');
  const specifiers: string[] = [];
  for (const m of text.matchAll(/(?:^|\n)\s*(import|export)\s(type\s)?[^'"]*?from\s+['"]([^'"]+)['"]/g))
    if (!m[2]) specifiers.push(m[3]!);
  return specifiers;
}

function walk(entry: string): { files: Set<string>; packages: Map<string, string> } {
  const files = new Set<string>();
  const packages = new Map<string, string>();
  const stack = [entry];
  while (stack.length > 0) {
    const file = stack.pop()!;
    if (files.has(file)) continue;
    files.add(file);
    for (const spec of staticImportsOf(file)) {
      if (spec.startsWith('.')) stack.push(resolve(dirname(file), spec.replace(/\.js$/, '.ts')));
      else if (!spec.startsWith('node:')) packages.set(spec, relative(root, file));
    }
  }
  return { files, packages };
}

/** The verb files program.ts loads, from its table's `import('./x.js')` calls. */
const verbFiles = [...readFileSync(cli('program.ts'), 'utf8').matchAll(/import\('\.\/([\w-]+)\.js'\)/g)].map(
  (m) => `${m[1]!}.ts`,
);

describe('CLI start-up: static imports', () => {
  it('main.ts imports only the version statically (--version loads nothing else)', () => {
    const { files, packages } = walk(cli('main.ts'));
    expect([...files].map((f) => relative(root, f)).sort()).toEqual([
      'src/cli/main.ts',
      'src/cli/version.ts',
    ]);
    expect([...packages.keys()]).toEqual([]);
  });

  it('the table names every verb file (the walk below is not vacuous)', () => {
    expect(verbFiles.length).toBeGreaterThanOrEqual(14);
    expect(verbFiles).toContain('pull.ts');
    expect(verbFiles).toContain('agent.ts');
  });

  it('the tree reaches, outside src/cli, only modules whose second copy in the bundle is harmless', () => {
    // dist/bundle/cli/tree.cjs holds a copy of each; what an action loads has its own. errors.ts keeps its
    // identity through a brand (test/errors.test.ts); the others hold constants and pure functions.
    const outside = new Set<string>();
    for (const file of ['main.ts', 'program.ts', ...verbFiles])
      for (const reached of walk(cli(file)).files)
        if (!reached.startsWith(cli(''))) outside.add(relative(root, reached));
    expect([...outside].sort()).toEqual(['src/agent/duration.ts', 'src/errors.ts', 'src/mesh/types.ts']);
  });

  for (const file of ['program.ts', ...verbFiles]) {
    it(`${file} reaches no package (commander comes through cli/commander.ts) and no heavy module`, () => {
      const { files, packages } = walk(cli(file));
      expect([...packages].map(([spec, from]) => `${spec} (from ${from})`)).toEqual([]);
      expect(HEAVY_MODULES.filter((m) => files.has(resolve(root, m)))).toEqual([]);
    });
  }
});

describe('CLI start-up: the command tree', () => {
  it('VERSION is package.json version', () => {
    const pkg = JSON.parse(readFileSync(resolve(root, 'package.json'), 'utf8')) as { version: string };
    expect(VERSION).toBe(pkg.version);
  });

  it("--max-module-size's default, written out in the options, is the library's", () => {
    expect(parseSize(DEFAULT_MAX_MODULE_SIZE, '--max-module-size')).toBe(DEFAULT_MAX_MODULE_BYTES);
  });

  it('the table names exactly the commands and aliases the verb files define', async () => {
    const program = await buildProgram();
    const defined = program.commands.flatMap((c) => [c.name(), ...c.aliases()]);
    expect([...defined].sort()).toEqual([...VERB_NAMES].sort());
  });

  it('a command line naming a verb builds that verb only, whatever its root options', async () => {
    for (const name of VERB_NAMES) {
      const program = await buildProgram(['node', 'meshwasm', '--debug', name, '--help']);
      const commands = program.commands.map((c) => [c.name(), ...c.aliases()]);
      expect(commands.length, name).toBeLessThanOrEqual(2); // login.ts defines login and logout
      expect(commands.flat(), name).toContain(name);
    }
  });

  it('no verb, help, an unknown verb or a root option first builds every verb', async () => {
    const all = (await buildProgram()).commands.length;
    for (const args of [[], ['help', 'pull'], ['pul'], ['--help'], ['-V', 'pull'], ['--nope', 'pull']])
      expect((await buildProgram(['node', 'meshwasm', ...args])).commands.length, args.join(' ')).toBe(all);
  });
});

describe('CLI start-up: what a process loads', () => {
  const work = mkdtempSync(join(tmpdir(), 'meshwasm-lazy-'));
  afterAll(() => rmSync(work, { recursive: true, force: true }));
  const recorder = resolve(root, 'test/support/record-modules.mjs');
  let runs = 0;

  /** Runs the CLI from its sources and returns stdout and what it loaded: project files and packages. */
  async function loaded(
    ...args: string[]
  ): Promise<{ stdout: string; project: string[]; packages: string[] }> {
    const record = join(work, `run-${runs++}.txt`);
    const { stdout } = await promisify(execFile)(
      process.execPath,
      ['--import', 'tsx/esm', '--import', recorder, cli('main.ts'), ...args],
      { cwd: root, env: { ...process.env, RECORD_MODULES_FILE: record } },
    );
    const paths = readFileSync(record, 'utf8')
      .split('\n')
      .filter((line) => line.startsWith('file:') || line.startsWith('/'))
      .map((line) => (line.startsWith('file:') ? fileURLToPath(line) : line));
    const project = new Set<string>();
    const packages = new Set<string>();
    for (const path of paths) {
      const inPackage = /\/node_modules\/((?:@[^/]+\/)?[^/]+)\//.exec(path);
      if (inPackage) packages.add(inPackage[1]!);
      else if (path.startsWith(join(root, 'src'))) project.add(relative(root, path));
    }
    packages.delete('tsx'); // the test runs the sources through tsx (and its esbuild); users run dist/
    packages.delete('esbuild');
    return { stdout, project: [...project].sort(), packages: [...packages].sort() };
  }

  it('--version loads main and version only, and prints what commander would', async () => {
    const run = await loaded('--version');
    expect(run.stdout).toBe(`${(await buildProgram()).version()}\n`);
    expect(run.project).toEqual(['src/cli/main.ts', 'src/cli/version.ts']);
    expect(run.packages).toEqual([]);
  });

  it('pull --help loads commander, the tree and pull.ts with its option helpers, nothing else', async () => {
    const run = await loaded('pull', '--help');
    expect(run.stdout).toContain('Usage: meshwasm pull [options] <reference>');
    expect(run.packages).toEqual(['commander']);
    expect(run.project).toEqual([
      'src/cli/commander.ts',
      'src/cli/main.ts',
      'src/cli/oci-options.ts',
      'src/cli/program.ts',
      'src/cli/pull.ts',
      'src/cli/version.ts',
      'src/errors.ts',
    ]);
  });

  it('--help loads every verb file and still no package but commander', async () => {
    const run = await loaded('--help');
    expect(run.stdout).toContain('controller [options]');
    expect(run.packages).toEqual(['commander']);
    expect(run.project).toEqual(expect.arrayContaining(verbFiles.map((f) => `src/cli/${f}`)));
    expect(HEAVY_MODULES.filter((m) => run.project.includes(m))).toEqual([]);
  });
});
