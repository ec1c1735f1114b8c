/**
 * CLI start-up benchmark (issue 12): whole processes as a user types them, against bare `node -e 0`
 * measured in the same run (interleaved), and what each dependency and each part of meshwasm costs to
 * load, each in a fresh process (so nothing loaded earlier hides a cost).
 *
 *   npx tsx bench/cli.ts [rounds]     target: --version and pull --help within 1.5x of node -e 0
 * MESHWASM_BENCH_BEFORE_CLI=<another build's bin/meshwasm.js> times that build's commands in the same runs.
 */
import { spawnSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { buildCli } from './lib/build-cli.js';
import { median } from './lib/stats.js';
import { startLikeAUser } from './lib/node-env.js';

console.log(startLikeAUser());
const rounds = Number(process.argv[2] ?? 15);
const cli = buildCli();
// bin/meshwasm.js runs the dist/ beside it.
const dist = join(dirname(dirname(cli)), 'dist');
const importCost = fileURLToPath(new URL('./lib/import-cost.mjs', import.meta.url));

function wall(args: string[]): number {
  const started = performance.now();
  const run = spawnSync(process.execPath, args, { stdio: ['ignore', 'ignore', 'pipe'] });
  const elapsed = performance.now() - started;
  if (run.status !== 0) throw new Error(`node ${args.join(' ')} failed: ${run.stderr.toString()}`);
  return elapsed;
}

const commands: Record<string, string[]> = {
  'node -e 0': ['-e', '0'],
  'meshwasm --version': [cli, '--version'],
  'meshwasm pull --help': [cli, 'pull', '--help'],
  'meshwasm --help': [cli, '--help'],
};
// Another build (e.g. the one before a change) timed in the same interleaved runs.
const beforeCli = process.env.MESHWASM_BENCH_BEFORE_CLI;
if (beforeCli) {
  commands['before: --version'] = [beforeCli, '--version'];
  commands['before: pull --help'] = [beforeCli, 'pull', '--help'];
  commands['before: --help'] = [beforeCli, '--help'];
}
const targeted = new Set(['meshwasm --version', 'meshwasm pull --help']);
const times: Record<string, number[]> = Object.fromEntries(Object.keys(commands).map((k) => [k, []]));
for (const args of Object.values(commands)) wall(args); // page cache
for (let round = 0; round < rounds; round++)
  for (const [name, args] of Object.entries(commands)) times[name]!.push(wall(args));

const base = median(times['node -e 0']!);
console.log(`whole processes, spawn to exit, median of ${rounds} interleaved runs:`);
for (const [name, xs] of Object.entries(times)) {
  const m = median(xs);
  const ratio = m / base;
  const target = targeted.has(name) ? `   target <= 1.5x: ${ratio <= 1.5 ? 'OK' : 'MISSED'}` : '';
  console.log(`  ${name.padEnd(24)} ${m.toFixed(0).padStart(5)} ms  ${ratio.toFixed(2)}x${target}`);
}

// Load cost of each dependency and of dist/'s modules (tsc's output; the CLI's command tree, cli/*.js, runs
// from dist/bundle/cli/tree.cjs instead: see scripts/bundle-cli.mjs).
const modules = [
  'node:http',
  'node:https',
  'commander',
  'yaml',
  'tar-stream',
  'cli-progress',
  '@kubernetes/client-node',
  'undici',
  ...[
    'cli/commander.js',
    'cli/program.js',
    'cli/pull.js',
    'cli/push.js',
    'oci/remote/transport.js',
    'oci/session.js',
    'oci/wasm-image.js',
    'oci/index.js',
    'kube/index.js',
    'agent/run.js',
    'controller/index.js',
    'sidecar/index.js',
    // The same modules as the CLI loads them, from the bundle's code-split build.
    ...['oci/session.js', 'oci/wasm-image.js', 'agent/run.js', 'controller/index.js', 'sidecar/index.js'].map(
      (m) => `bundle/${m}`,
    ),
  ].map((m) => pathToFileURL(join(dist, m)).href),
];
const samplesPerModule = 5;
console.log(`load cost in a fresh process (await import), median of ${samplesPerModule}:`);
for (const spec of modules) {
  const samples: { ms: number; rssMb: number }[] = [];
  for (let i = 0; i < samplesPerModule; i++) {
    const run = spawnSync(process.execPath, [importCost, spec], { encoding: 'utf8' });
    if (run.status !== 0) {
      samples.length = 0;
      break;
    }
    samples.push(JSON.parse(run.stdout) as { ms: number; rssMb: number });
  }
  const name = spec.startsWith('file:') ? `dist/${spec.slice(pathToFileURL(dist).href.length + 1)}` : spec;
  if (samples.length === 0) {
    console.log(`  ${name.padEnd(32)} not installed`);
    continue;
  }
  const msMedian = median(samples.map((s) => s.ms));
  const rss = median(samples.map((s) => s.rssMb));
  console.log(
    `  ${name.padEnd(32)} ${msMedian.toFixed(0).padStart(5)} ms  +${rss.toFixed(0).padStart(3)} MB RSS`,
  );
}
