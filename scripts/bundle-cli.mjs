// `npm run build:bundle`: the CLI bundled from dist/ into dist/bundle/, which bin/meshwasm.js runs.
// dist/ stays as tsc writes it, for the library's exports. Usage: node scripts/bundle-cli.mjs [dist]
//
// Node's ES module loader costs ~1 ms for each file it resolves, reads and links, plus ~3 ms for an
// ES module entry, and a command loaded 8 (`pull --help`) to ~60 (`meshwasm agent`) of the project's
// files. Two builds:
// - cli/tree.cjs, the command tree every command builds: main.js, program.js, every verb's file and
//   what they import statically, as one CommonJS file, with commander inlined. `meshwasm pull --help`
//   took ~35 ms from ~8 files, ~25 ms from this one, against ~18 ms for `node -e 0` (bench/cli.ts).
//   It holds a second copy of the few modules outside cli/ that the tree imports (errors.ts keeps
//   its identity through a brand; test/cli/lazy-imports.test.ts lists them).
// - what the verbs' actions load with `await import()`, as ES modules with code splitting: each such
//   module is an entry at its own place (dist/bundle/oci/wasm-image.js for dist/oci/wasm-image.js), so
//   a verb still loads only what it uses, from a few chunks. Packages stay packages.
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
  const common = { bundle: true, platform: 'node', target: 'node20', logLevel: 'warning' };
  // The command tree; it collects what its actions import.
  const tree = new Set(TREE.map((name) => join(dist, 'cli', name)));
  const actions = new Set();
  await build({
    ...common,
    entryPoints: [join(dist, 'cli', 'main.js')],
    format: 'cjs',
    outfile: join(outdir, 'cli', 'tree.cjs'),
    plugins: [actionImports(dist, tree, actions), packagesButCommanderExternal, commanderInlined(dist)],
  });
  // What the actions import, each where the tree's `import()` looks for it (dist/bundle mirrors dist).
  await build({
    ...common,
    entryPoints: [...actions].sort(),
    packages: 'external',
    splitting: true,
    format: 'esm',
    outbase: dist,
    outdir,
    entryNames: '[dir]/[name]',
    chunkNames: 'chunks/[name]-[hash]',
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

/**
 * An `import()` in an action stays an `import()`, of the module's place in dist/bundle (which mirrors
 * dist/, so a specifier written in dist/cli/ is the same one from dist/bundle/cli/), and the module is
 * collected for the second build.
 */
function actionImports(dist, tree, actions) {
  const outdir = join(dist, 'bundle', 'cli');
  return {
    name: 'action-imports',
    setup(builder) {
      builder.onResolve({ filter: /^\./ }, (args) => {
        if (args.kind !== 'dynamic-import' || tree.has(args.importer)) return undefined;
        const target = resolve(dirname(args.importer), args.path);
        actions.add(target);
        const path = relative(outdir, join(dist, 'bundle', relative(dist, target)))
          .split('\\')
          .join('/');
        return { path: path.startsWith('.') ? path : `./${path}`, external: true };
      });
    },
  };
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  await bundleCli(resolve(process.argv[2] ?? 'dist'));
}
