// `npm run build:bundle`: the CLI bundled from dist/ into dist/bundle/, which bin/meshwasm.js runs the
// agent from. Node's ES module loader costs ~1 ms per file it resolves, reads and links, and `meshwasm
// agent` loads ~60 of the project's files: with code splitting (every `await import()` stays a chunk
// of its own, so the agent still loads only what it uses, and packages stay imports of the chunk that
// needs them) it loads ~30, and started with ~35 ms less CPU. dist/ stays as tsc writes it, for the
// library's exports and the other verbs. Usage: node scripts/bundle-cli.mjs [dist directory]
import { rmSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

export async function bundleCli(dist) {
  const outdir = join(dist, 'bundle');
  rmSync(outdir, { recursive: true, force: true }); // no chunk of an earlier build is left behind
  await build({
    entryPoints: [join(dist, 'cli', 'main.js')],
    bundle: true,
    splitting: true,
    format: 'esm',
    platform: 'node',
    target: 'node20',
    packages: 'external',
    outdir,
    logLevel: 'warning',
  });
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  await bundleCli(resolve(process.argv[2] ?? 'dist'));
}
