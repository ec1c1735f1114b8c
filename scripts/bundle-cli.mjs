// `npm run build:bundle`: two bundles of the CLI, made from dist/ into dist/bundle/, which bin/meshwasm.js
// runs. dist/ stays as tsc writes it, for the library's exports and what the verbs load when they run.
// Usage: node scripts/bundle-cli.mjs [dist directory]
//
// - cli.cjs, the command tree: main.js, program.js, every verb's file and what they import statically,
//   as one CommonJS file. Every command builds the tree, and Node's ES module loader costs ~1 ms for each
//   file it resolves, reads and links, plus ~3 ms for an ES module entry: `meshwasm pull --help` took
//   ~35 ms from ~8 files, ~25 ms from this one, against ~18 ms for `node -e 0` (bench/cli.ts). The
//   bundle holds a second copy of the few modules outside cli/ that the tree imports (errors.ts keeps
//   its identity through a brand; test/cli/lazy-imports.test.ts lists them). What an `await import()`
//   in a verb's action loads stays an import of dist/'s file (the path rewritten for the bundle's
//   directory), so a verb still loads only what it uses. Packages stay packages, except commander,
//   which every command loads.
// - main.js and its chunks, the agent: `meshwasm agent` loads ~60 of the project's files; with code
//   splitting (every `await import()` a chunk of its own, so the agent still loads only what it uses)
//   it loads ~30, and started with ~35 ms less CPU.
import { readFileSync, realpathSync, rmSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

/** The files whose `import()`s build the command tree (main's setup, program's table of verbs). */
const TREE = ['main.js', 'program.js'];

export async function bundleCli(distGiven) {
  const dist = realpathSync(distGiven); // esbuild names files by their real paths
  const outdir = join(dist, 'bundle');
  rmSync(outdir, { recursive: true, force: true }); // no chunk of an earlier build is left behind
  const common = {
    bundle: true,
    platform: 'node',
    target: 'node20',
    packages: 'external',
    logLevel: 'warning',
  };
  await build({
    ...common,
    entryPoints: [join(dist, 'cli', 'main.js')],
    splitting: true,
    format: 'esm',
    outdir,
  });
  const tree = new Set(TREE.map((name) => join(dist, 'cli', name)));
  await build({
    ...common,
    entryPoints: [join(dist, 'cli', 'main.js')],
    format: 'cjs',
    outfile: join(outdir, 'cli.cjs'),
    packages: undefined,
    plugins: [actionsStayInDist(tree, outdir), packagesButCommanderExternal, commanderInlined(dist)],
  });
}

/** Packages stay `require`s of node_modules, but commander, which every command loads, is inlined. */
const packagesButCommanderExternal = {
  name: 'packages-but-commander-external',
  setup(builder) {
    builder.onResolve({ filter: /^[^./]/ }, (args) =>
      /^commander(\/|$)/.test(args.path) ? undefined : { path: args.path, external: true },
    );
  },
};

/**
 * cli/commander.ts requires commander through a require of its own, made with createRequire (see why
 * there). In the CommonJS bundle that declaration is dropped, so its `require('commander')` is the
 * bundle's own require, which esbuild inlines: ~3 ms less than resolving and loading commander's files.
 */
function commanderInlined(dist) {
  const file = join(dist, 'cli', 'commander.js');
  const declaration = 'const require = createRequire(import.meta.url);';
  return {
    name: 'commander-inlined',
    setup(builder) {
      builder.onLoad({ filter: /[\\/]cli[\\/]commander\.js$/ }, (args) => {
        if (args.path !== file) return undefined;
        const source = readFileSync(file, 'utf8');
        if (!source.includes(declaration))
          throw new Error(`${file} no longer declares \`${declaration}\`: update scripts/bundle-cli.mjs`);
        return { contents: source.replace(declaration, ''), loader: 'js' };
      });
    },
  };
}

/** An `import()` outside the command tree's files loads dist/'s file, named from the bundle's directory. */
function actionsStayInDist(tree, outdir) {
  return {
    name: 'actions-stay-in-dist',
    setup(builder) {
      builder.onResolve({ filter: /^\./ }, (args) => {
        if (args.kind !== 'dynamic-import' || tree.has(args.importer)) return undefined;
        const target = relative(outdir, resolve(dirname(args.importer), args.path))
          .split('\\')
          .join('/');
        return { path: target.startsWith('.') ? target : `./${target}`, external: true };
      });
    },
  };
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  await bundleCli(resolve(process.argv[2] ?? 'dist'));
}
