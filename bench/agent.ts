/**
 * Node agent benchmark, whole processes as an operator runs them (`meshwasm agent`, compiled, plain node).
 *
 * Cold sync of 50 distinct 1 MiB modules from the local registry (docker-registry on loopback), from
 * spawn until the agent logs "first sync finished" with all 50 files in place (resolved, verified,
 * fsynced, renamed, recorded), against the peer measured in the same run: oras-go v1 (Debian's
 * golang-oras-oras-go-dev, the library the seed's asmwasm-controller uses; bench/oras-pull/main.go,
 * built here) pulling the same 50 references with the same concurrency in one process, spawn to exit.
 * curl fetching only the 50 blobs (no manifests, no hashing, no fsync) is printed for scale.
 * Then: a warm restart through a counting proxy (time to ready, blob bytes at the wire), start-to-ready
 * with 0 modules, and idle RSS in --images-file mode and in cluster mode (test Kubernetes API server,
 * ConfigMap with the same 50 references); the files-mode figure beside a bare `node` that only waits.
 * MESHWASM_BENCH_BEFORE_CLI=<bin/meshwasm.js of another build> cold-syncs that build in every round too
 * (the order of the jobs rotates from round to round), and reads its idle RSS in the last round
 * (before/after in one run). BENCH_ROUNDS sets the number of rounds (12).
 * The environment is a user's: see lib/node-env.ts.
 *
 *   npx tsx bench/agent.ts     targets: cold sync <= 1.0x oras-go; warm restart 0 blob bytes;
 *                              idle RSS <= 60 MB (files) and <= 80 MB (cluster); 0-module start <= 300 ms
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { promisify } from 'node:util';
import { KubeClient, loadKubeConfig, Resources, type KubeObject } from '../src/kube/index.js';
import { imagesConfigMap } from '../src/mesh/index.js';
import { OciSession, pushWasm } from '../src/oci/index.js';
import { startFaultProxy } from '../test/support/fault-proxy.js';
import { startKubeApiServer } from '../test/support/kube-apiserver/index.js';
import { startRegistry } from '../test/support/registry.js';
import { moduleWithCustomSection } from '../test/support/wasm-fixtures.js';
import { buildCli } from './lib/build-cli.js';
import { buildOrasPull } from './lib/build-oras.js';
import { runRound } from './lib/rounds.js';
import { median } from './lib/stats.js';
import { startLikeAUser } from './lib/node-env.js';

console.log(startLikeAUser());
const run = promisify(execFile);
const MODULES = 50;
const SIZE = 1024 * 1024;
const PARALLEL = Number(process.env.BENCH_PARALLEL ?? 4);
// A multiple of 3 and of 4, so each job takes each place in the rotating order equally often.
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 12);
/** Idle RSS is read soon after ready, and once V8's memory reducer has acted (10-20 s after allocation stops). */
const IDLE_SOON_MS = 2000;
const IDLE_SETTLED_MS = 30_000;

const ms = (n: number) => `${n.toFixed(0)} ms`;
const list = (xs: number[], f: (n: number) => string = ms) => `[${xs.map(f).join(', ')}]`;
const verdict = (ok: boolean) => (ok ? 'OK' : 'MISSED');

function rssMb(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) / 1024 : NaN;
}

interface AgentRun {
  child: ChildProcess;
  /** spawn to the "first sync finished" log line */
  readyMs: number;
  stop(): Promise<void>;
}

/** Spawns `meshwasm agent` and resolves once it logs that its first sync finished. */
function spawnAgent(cli: string, args: string[], env: Record<string, string> = {}): Promise<AgentRun> {
  const started = performance.now();
  const child = spawn(process.execPath, [cli, 'agent', ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, MESHWASM_LOG_LEVEL: 'info', ...env },
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  let stderr = '';
  child.stderr!.on('data', (c: Buffer) => (stderr += c.toString()));
  return new Promise((resolve, reject) => {
    const lines = createInterface({ input: child.stdout! });
    lines.on('line', (line) => {
      if (!line.includes('first sync finished')) return;
      resolve({
        child,
        readyMs: performance.now() - started,
        stop: async () => {
          child.kill('SIGTERM');
          await exited;
        },
      });
    });
    child.once('exit', (code) =>
      reject(new Error(`the agent exited (${code}) before it was ready: ${stderr}`)),
    );
  });
}

interface IdleRss {
  /** MB, IDLE_SOON_MS after ready */
  soon: number;
  /** MB, IDLE_SETTLED_MS after ready */
  settled: number;
  /** MB of a bare node process that only waits, started at ready and read at the same moment */
  bare: number;
}

async function idleRss(agent: AgentRun): Promise<IdleRss> {
  const bare = spawn(process.execPath, ['-e', 'setInterval(() => {}, 1e9)'], { stdio: 'ignore' });
  await new Promise((r) => setTimeout(r, IDLE_SOON_MS));
  const soon = rssMb(agent.child.pid!);
  await new Promise((r) => setTimeout(r, IDLE_SETTLED_MS - IDLE_SOON_MS));
  const settled = rssMb(agent.child.pid!);
  const result = { soon, settled, bare: rssMb(bare.pid!) };
  bare.kill();
  return result;
}

const registry = await startRegistry();
const proxy = await startFaultProxy({ upstream: registry.url });
const kube = await startKubeApiServer({ namespaces: ['default', 'istio-system'] });
const work = mkdtempSync(join(tmpdir(), 'meshwasm-bench-agent-'));
try {
  const session = new OciSession({ plainHttp: true });
  const refs: string[] = [];
  const proxied: string[] = [];
  const blobs: string[] = [];
  for (let i = 0; i < MODULES; i++) {
    const file = join(work, `m${i}.wasm`);
    writeFileSync(file, moduleWithCustomSection(SIZE, `bench-${i}`));
    const { target } = await session.open(`${registry.host}/bench/m${i}:v1`);
    const pushed = await pushWasm(target, 'v1', file, { format: 'artifact' });
    refs.push(`${registry.host}/bench/m${i}@${pushed.descriptor.digest}`);
    proxied.push(`${proxy.host}/bench/m${i}@${pushed.descriptor.digest}`);
    blobs.push(`${registry.url}/v2/bench/m${i}/blobs/${pushed.layer.digest}`);
  }
  await session.close();
  const noCredentials = join(work, 'docker-config.json');
  writeFileSync(noCredentials, '{}\n');
  const imagesFile = join(work, 'images');
  writeFileSync(imagesFile, `${refs.join('\n')}\n`);
  const proxiedImagesFile = join(work, 'images-proxied');
  writeFileSync(proxiedImagesFile, `${proxied.join('\n')}\n`);
  const emptyImagesFile = join(work, 'images-empty');
  writeFileSync(emptyImagesFile, '');

  const cli = buildCli();
  const oras = buildOrasPull();
  const agentArgs = (dir: string, images: string) => [
    '--images-file',
    images,
    '--dir',
    dir,
    '--plain-http',
    '--registry-config',
    noCredentials,
    '--host',
    '127.0.0.1',
    '--port',
    '0',
    '--jitter',
    '0s',
    '--concurrency',
    String(PARALLEL),
  ];

  const curlOnce = async (round: number): Promise<number> => {
    const out = join(work, `curl-${round}`);
    const args = ['--silent', '--fail', '--parallel', '--parallel-max', String(PARALLEL), '--create-dirs'];
    blobs.forEach((url, i) => args.push('-o', join(out, `b${i}`), url));
    const started = performance.now();
    await run('curl', args, { maxBuffer: 1 << 20 });
    const elapsed = performance.now() - started;
    rmSync(out, { recursive: true, force: true });
    return elapsed;
  };

  const orasOnce = async (round: number): Promise<number> => {
    const out = join(work, `oras-${round}`);
    mkdirSync(out);
    const started = performance.now();
    await run(oras!, [imagesFile, out, String(PARALLEL), noCredentials], { maxBuffer: 1 << 20 });
    const elapsed = performance.now() - started;
    const files = readdirSync(out).length;
    if (files !== MODULES) throw new Error(`oras-go wrote ${files} of ${MODULES} files`);
    rmSync(out, { recursive: true, force: true });
    return elapsed;
  };

  const agentModules = (dir: string) => readdirSync(dir).filter((f) => /^[0-9a-f]{64}\.wasm$/.test(f)).length;

  // Interleaved rounds, so a slow moment of the machine hits every side alike, each job after a pause
  // and in an order that rotates (lib/rounds.ts: the fixed order this bench had made the same build
  // ~20% slower as "before" than as "now"). Another build (MESHWASM_BENCH_BEFORE_CLI) syncs in every
  // round too, and its idle RSS is read in the last round: before and after from one run.
  const beforeCli = process.env.MESHWASM_BENCH_BEFORE_CLI;
  const curlTimes: number[] = [];
  const orasTimes: number[] = [];
  const coldTimes: number[] = [];
  const beforeTimes: number[] = [];
  let lastDir = '';
  let filesIdle: IdleRss | undefined;
  let beforeIdle: IdleRss | undefined;
  const coldSync = async (path: string, dir: string, idle: boolean) => {
    const agent = await spawnAgent(path, agentArgs(dir, imagesFile));
    const present = agentModules(dir);
    if (present !== MODULES)
      throw new Error(`${path}: cold sync ended with ${present} of ${MODULES} modules`);
    const rss = idle ? await idleRss(agent) : undefined;
    await agent.stop();
    return { readyMs: agent.readyMs, rss };
  };
  await curlOnce(-1); // warm the registry's page cache
  if (oras) await orasOnce(-1);
  for (let round = 0; round < ROUNDS; round++) {
    const last = round === ROUNDS - 1;
    const jobs: (() => Promise<void>)[] = [
      async () => void curlTimes.push(await curlOnce(round)),
      async () => {
        lastDir = join(work, `agent-${round}`);
        const now = await coldSync(cli, lastDir, last);
        coldTimes.push(now.readyMs);
        if (last) filesIdle = now.rss;
      },
    ];
    if (oras) jobs.push(async () => void orasTimes.push(await orasOnce(round)));
    if (beforeCli)
      jobs.push(async () => {
        const before = await coldSync(beforeCli, join(work, `before-${round}`), last);
        beforeTimes.push(before.readyMs);
        if (last) beforeIdle = before.rss;
      });
    await runRound(round, jobs);
  }
  const ratios = oras ? coldTimes.map((t, round) => t / orasTimes[round]!) : [];
  const beforeRatios = oras ? beforeTimes.map((t, round) => t / orasTimes[round]!) : [];

  const bytesBefore = proxy.blobBytes;
  const warm = await spawnAgent(cli, agentArgs(lastDir, proxiedImagesFile));
  const warmBytes = proxy.blobBytes - bytesBefore;
  await warm.stop();

  const emptyTimes: number[] = [];
  for (let round = 0; round < ROUNDS; round++) {
    const dir = join(work, `empty-${round}`);
    const agent = await spawnAgent(cli, agentArgs(dir, emptyImagesFile));
    emptyTimes.push(agent.readyMs);
    await agent.stop();
  }

  // Cluster mode: the same 50 references from the images ConfigMap, the agent's pod annotated and
  // Events written as in a DaemonSet (POD_NAME, POD_NAMESPACE).
  const kc = loadKubeConfig(kube.kubeconfigPath);
  const client = new KubeClient(kc);
  await client.create(Resources.configMaps, imagesConfigMap(refs, 'istio-system') as unknown as KubeObject);
  await client.create(Resources.pods, {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name: 'meshwasm-agent-bench', namespace: 'istio-system' },
    spec: { nodeName: 'node-1', containers: [{ name: 'agent', image: 'meshwasm' }] },
  });
  client.close();
  const clusterDir = join(work, 'cluster');
  const clusterAgent = await spawnAgent(
    cli,
    [
      '--kubeconfig',
      kube.kubeconfigPath,
      '--namespace',
      'istio-system',
      '--dir',
      clusterDir,
      '--plain-http',
      '--host',
      '127.0.0.1',
      '--port',
      '0',
      '--jitter',
      '0s',
      '--concurrency',
      String(PARALLEL),
    ],
    { POD_NAME: 'meshwasm-agent-bench', POD_NAMESPACE: 'istio-system' },
  );
  const clusterPresent = agentModules(clusterDir);
  await new Promise((r) => setTimeout(r, IDLE_SOON_MS));
  const clusterSoonRss = rssMb(clusterAgent.child.pid!);
  await new Promise((r) => setTimeout(r, IDLE_SETTLED_MS - IDLE_SOON_MS));
  const clusterIdleRss = rssMb(clusterAgent.child.pid!);
  await clusterAgent.stop();
  if (clusterPresent !== MODULES)
    throw new Error(`cluster mode synced ${clusterPresent} of ${MODULES} modules`);

  const cold = median(coldTimes);
  console.log(
    `agent benchmark (whole processes): ${MODULES} distinct modules of ${SIZE / 1024} KiB, concurrency ${PARALLEL}, median of ${ROUNDS}`,
  );
  console.log(`  curl --parallel, blobs only (for scale): ${ms(median(curlTimes))}   ${list(curlTimes)}`);
  if (oras) {
    console.log(
      `  oras-go v1 (oras.Copy to a file store, same references and concurrency): ${ms(median(orasTimes))}   ${list(orasTimes)}`,
    );
  } else {
    console.log(
      '  oras-go: skipped (no Go toolchain or no oras-go sources; apt-get install golang-go golang-oras-oras-go-dev)',
    );
  }
  console.log(
    `  meshwasm agent cold sync, spawn to ready (resolve, verify, fsync, rename, record): ${ms(cold)}   ${list(coldTimes)}`,
  );
  if (oras) {
    const ratio = median(ratios);
    console.log(
      `  cold sync / oras-go = ${ratio.toFixed(2)}x (median of per-round ratios ${list(ratios, (r) => r.toFixed(2))})   target <= 1.0x: ${verdict(ratio <= 1.0)}`,
    );
  }
  if (beforeCli) {
    const ratio = oras
      ? ` = ${median(beforeRatios).toFixed(2)}x oras-go ${list(beforeRatios, (r) => r.toFixed(2))}`
      : '';
    console.log(`  cold sync by the build before, same rounds: ${ms(median(beforeTimes))}${ratio}`);
  }
  console.log(
    `  warm restart with the same ${MODULES}: ready in ${ms(warm.readyMs)}, blob bytes downloaded ${warmBytes} (target 0): ${verdict(warmBytes === 0)}`,
  );
  const empty = median(emptyTimes);
  console.log(
    `  start to ready with 0 modules: ${ms(empty)}   ${list(emptyTimes)}   target <= 300 ms: ${verdict(empty <= 300)}`,
  );
  const idleLine = (label: string, idle: IdleRss, target: string) =>
    console.log(
      `  idle RSS, --images-file mode, ${MODULES} modules held${label}: ${idle.settled.toFixed(1)} MB ${IDLE_SETTLED_MS / 1000} s after ready (${idle.soon.toFixed(1)} MB after ${IDLE_SOON_MS / 1000} s); bare node ${idle.bare.toFixed(1)} MB, agent / bare = ${(idle.settled / idle.bare).toFixed(2)}x${target}`,
    );
  idleLine('', filesIdle!, `   target <= 60 MB: ${verdict(filesIdle!.settled <= 60)}`);
  if (beforeIdle) idleLine(' (build before)', beforeIdle, '');
  console.log(
    `  idle RSS, cluster mode (test API server, ConfigMap of ${MODULES}): ${clusterIdleRss.toFixed(1)} MB ${IDLE_SETTLED_MS / 1000} s after ready (${clusterSoonRss.toFixed(1)} MB after ${IDLE_SOON_MS / 1000} s)   target <= 80 MB: ${verdict(clusterIdleRss <= 80)}`,
  );
} finally {
  await proxy.stop();
  await kube.stop();
  await registry.destroy();
  rmSync(work, { recursive: true, force: true });
}
