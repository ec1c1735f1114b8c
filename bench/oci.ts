/**
 * OCI transfer benchmark (issues 2 and 12): push and pull a 32 MiB module against a local
 * docker-registry as whole processes, the way a user types them (`meshwasm push`, `meshwasm pull`: the
 * compiled CLI on plain node, start-up included), against curl doing the same HTTP transfers (plus
 * sha256sum, since we hash too) in the same run; the library's own time in this process is printed too.
 * Prints meshwasm/curl ratios (target: each at most 1.3x), then the peak RSS of pulling a 200 MiB
 * module in a child process (target: under 150 MB, which shows streaming).
 *
 * Run alone: npx tsx bench/oci.ts [rounds]   (12: a multiple of the 3 or 4 jobs that take turns)
 * MESHWASM_BENCH_BEFORE_CLI=<another build's bin/meshwasm.js> times that build's pull in the same rounds
 * (before/after from one run: the peer's own time swings by 30% between runs).
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { OciSession, pullWasmToFile, pushWasm } from '../src/oci/index.js';
import { startRegistry } from '../test/support/registry.js';
import { moduleWithCustomSection } from '../test/support/wasm-fixtures.js';
import { buildCli } from './lib/build-cli.js';
import { runRound } from './lib/rounds.js';
import { median, ms, timed } from './lib/stats.js';
import { startLikeAUser } from './lib/node-env.js';

console.log(startLikeAUser());
const rounds = Number(process.argv[2] ?? 12);
const work = mkdtempSync(join(tmpdir(), 'meshwasm-bench-oci-'));
const registry = await startRegistry();
const session = new OciSession({ plainHttp: true, registryConfig: join(work, 'none.json') });
const curl = (...args: string[]) => execFileSync('curl', ['-sS', '--fail', ...args], { encoding: 'utf8' });

/** The peer of `meshwasm push`: sha256sum for the digest, then a monolithic upload with curl. */
function curlPush(modulePath: string, repository: string): void {
  const digest = `sha256:${execFileSync('sha256sum', [modulePath], { encoding: 'utf8' }).split(' ')[0]}`;
  const headers = curl(
    '-X',
    'POST',
    '-D',
    '-',
    '-o',
    '/dev/null',
    `${registry.url}/v2/${repository}/blobs/uploads/`,
  );
  const location = /^location:\s*(\S+)/im.exec(headers)?.[1] ?? '';
  const url = new URL(location, registry.url);
  url.searchParams.set('digest', digest);
  curl(
    '-X',
    'PUT',
    '-H',
    'content-type: application/octet-stream',
    '--data-binary',
    `@${modulePath}`,
    '-o',
    '/dev/null',
    url.toString(),
  );
}

try {
  const modulePath = join(work, 'module.wasm');
  writeFileSync(modulePath, moduleWithCustomSection(32 * 1024 * 1024, 'bench'));
  const cli = buildCli();
  const noCredentials = join(work, 'none.json');
  const beforeCli = process.env.MESHWASM_BENCH_BEFORE_CLI;
  const meshwasm = (...args: string[]) => runCli(cli, args);
  const runCli = (path: string, args: string[]) =>
    execFileSync(process.execPath, [path, ...args, '--plain-http', '--registry-config', noCredentials], {
      stdio: ['ignore', 'ignore', 'pipe'],
    });
  const times = {
    libPush: [] as number[],
    libPull: [] as number[],
    push: [] as number[],
    curlPush: [] as number[],
    pull: [] as number[],
    beforePull: [] as number[],
    curlPull: [] as number[],
  };
  let layerDigest = '';

  // Each round pushes, then pulls what it pushed; within each half the jobs take turns at going first,
  // each after a pause (lib/rounds.ts).
  for (let round = 0; round < rounds; round++) {
    // Fresh module bytes per round would cost more to generate than to send; distinct repositories
    // make every round a real upload (the registry links a known blob, but only after receiving it).
    const { target } = await session.open(`${registry.host}/bench/lib-${round}:v1`);
    await runRound(round, [
      async () =>
        times.libPush.push(
          await timed(async () => (layerDigest = (await pushWasm(target, 'v1', modulePath)).layer.digest)),
        ),
      async () =>
        times.push.push(
          await timed(async () => meshwasm('push', `${registry.host}/bench/push-${round}:v1`, modulePath)),
        ),
      async () => times.curlPush.push(await timed(async () => curlPush(modulePath, `bench/curl-${round}`))),
    ]);

    const out = join(work, `pulled-${round}.wasm`);
    const pullJobs = [
      async () => {
        times.libPull.push(await timed(() => pullWasmToFile(target, 'v1', out)));
        rmSync(out);
      },
      async () => {
        times.pull.push(
          await timed(async () => meshwasm('pull', `${registry.host}/bench/push-${round}:v1`, '-o', out)),
        );
        rmSync(out);
      },
      async () => {
        const curlOut = join(work, `curl-${round}.wasm`);
        times.curlPull.push(
          await timed(async () => {
            curl('-o', curlOut, `${registry.url}/v2/bench/push-${round}/blobs/${layerDigest}`);
            execFileSync('sha256sum', [curlOut]);
          }),
        );
        rmSync(curlOut);
      },
    ];
    if (beforeCli)
      pullJobs.push(async () => {
        times.beforePull.push(
          await timed(async () =>
            runCli(beforeCli, ['pull', `${registry.host}/bench/push-${round}:v1`, '-o', out]),
          ),
        );
        rmSync(out);
      });
    await runRound(round, pullJobs);
  }

  const pushRatio = median(times.push) / median(times.curlPush);
  const pullRatio = median(times.pull) / median(times.curlPull);
  const verdict = (r: number) => (r <= 1.3 ? 'OK' : 'MISSED');
  console.log(`32 MiB module, ${rounds} rounds, medians (whole processes: spawn to exit):`);
  console.log(
    `  push: meshwasm ${ms(median(times.push))}  curl+sha256sum ${ms(median(times.curlPush))}  ratio ${pushRatio.toFixed(2)}x (target <= 1.3x: ${verdict(pushRatio)})`,
  );
  console.log(
    `  pull: meshwasm ${ms(median(times.pull))}  curl+sha256sum ${ms(median(times.curlPull))}  ratio ${pullRatio.toFixed(2)}x (target <= 1.3x: ${verdict(pullRatio)})`,
  );
  // The spread, round by round: this shared machine has slow moments.
  const perRound = times.pull.map((t, i) => (t / times.curlPull[i]!).toFixed(2)).join(', ');
  console.log(`    pull / peer per round: [${perRound}]`);
  console.log(
    `  the library alone, in this process: push ${ms(median(times.libPush))} (${(median(times.libPush) / median(times.curlPush)).toFixed(2)}x), pull ${ms(median(times.libPull))} (${(median(times.libPull) / median(times.curlPull)).toFixed(2)}x)`,
  );
  if (beforeCli)
    console.log(
      `  pull by the build before (${beforeCli}), same rounds: ${ms(median(times.beforePull))}  ratio ${(median(times.beforePull) / median(times.curlPull)).toFixed(2)}x`,
    );
  console.log(
    '  (meshwasm push also validates the module and uploads config and manifest; pull also verifies the manifest and the Wasm)',
  );

  const big = join(work, 'big.wasm');
  writeFileSync(big, moduleWithCustomSection(200 * 1024 * 1024, 'big'));
  const { target } = await session.open(`${registry.host}/bench/big:v1`);
  await pushWasm(target, 'v1', big);
  rmSync(big);
  // The shipped CLI (compiled, plain node), as a user runs it; its peak RSS reported as it exits.
  const reporter = fileURLToPath(new URL('./lib/report-rss.mjs', import.meta.url));
  const rss = (args: string[]) => {
    const run = spawnSync(process.execPath, ['--import', reporter, cli, ...args], { encoding: 'utf8' });
    if (run.status !== 0) throw new Error(`meshwasm ${args.join(' ')} failed: ${run.stderr}`);
    return Number(/peak-rss-mb (\S+)/.exec(run.stderr)?.[1]);
  };
  const pullArgs = [
    'pull',
    `${registry.host}/bench/big:v1`,
    '-o',
    join(work, 'big-pulled.wasm'),
    '--plain-http',
    '--registry-config',
    join(work, 'none.json'),
  ];
  const idle = rss(['--version']);
  const peaks = [1, 2, 3].map(() => rss(pullArgs));
  const peak = Math.max(...peaks);
  console.log(
    `200 MiB pull in a child process, 3 runs: peak RSS ${peaks.map((p) => p.toFixed(0)).join(', ')} MB, max ${peak.toFixed(0)} MB (target < 150 MB); meshwasm --version alone: ${idle.toFixed(0)} MB`,
  );
} finally {
  await session.close();
  await registry.destroy();
  rmSync(work, { recursive: true, force: true });
}
