/**
 * Sidecar benchmark, all measured in one run so the ratios compare like with like:
 *   (a) the upstream directly, (b) `meshwasm run` with no filter, (c) with the seed header filter,
 * loaded by wrk at a fixed concurrency. Prints throughput and p99 ratios c/b and b/a (target: c/b
 * throughput >= 0.85), the cold start of a filter VM (compile + instantiate + vm_start + configure),
 * and the per-stream cost of the header filter's callbacks in microseconds (target < 20 us), next to
 * the same cost for an empty proxy-wasm module (the host's own overhead).
 *
 * Then bodies (bench/lib/sidecar-bodies.ts): large-body throughput through the header filter against
 * the upstream directly (target >= 0.5x both ways), the sidecar's peak RSS meanwhile (target < 150 MB)
 * and the latency the sidecar adds to each chunk of a slow stream.
 *
 * Run alone: npx tsx bench/sidecar.ts   (needs wrk and curl from Debian; builds the filter if missing)
 * BENCH_PART=load or BENCH_PART=bodies runs one half. MESHWASM_BENCH_BEFORE_CLI=<bin/meshwasm.js of
 * another build> adds that build's plain and filtered sidecars to the load rounds, interleaved with
 * this build's, for before/after figures measured in the same run.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { buildCli } from './lib/build-cli.js';
import { runRound } from './lib/rounds.js';
import { cpuSeconds } from './lib/stats.js';
import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import wabtInit from 'wabt';
import { FilterPlugin, Watchdog, type HostIO } from '../src/runtime/index.js';
import {
  addedChunkLatencyMs,
  largeBodies,
  peakRssMb,
  SIZES,
  startBodyUpstream,
  startNodeProxy,
  startTcpPipe,
} from './lib/sidecar-bodies.js';

const root = fileURLToPath(new URL('..', import.meta.url));
const FILTER = `${root}examples/header-filter/build/header-filter.wasm`;
const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS ?? 16);
const SECONDS = Number(process.env.BENCH_SECONDS ?? 3);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);

interface Load {
  rps: number;
  p99ms: number;
  /** CPU time the serving process spent per request (user + system), in microseconds. */
  cpuUs: number;
}

function wrk(url: string, seconds: number, pid: number): Load {
  const cpuBefore = cpuSeconds(pid);
  const out = execFileSync('wrk', ['-t1', `-c${CONNECTIONS}`, `-d${seconds}s`, '--latency', url], {
    encoding: 'utf8',
  });
  const rps = Number(/Requests\/sec:\s+([\d.]+)/.exec(out)?.[1]);
  const p99 = /\s99%\s+([\d.]+)(us|ms|s)/.exec(out);
  if (!rps || !p99) throw new Error(`cannot read wrk output:\n${out}`);
  const scale = p99[2] === 'us' ? 0.001 : p99[2] === 's' ? 1000 : 1;
  const requests = Number(/(\d+) requests in/.exec(out)?.[1]);
  const cpuUs = ((cpuSeconds(pid) - cpuBefore) * 1e6) / requests;
  return { rps, p99ms: Number(p99[1]) * scale, cpuUs };
}

function waitFor(child: ChildProcess, pattern: RegExp, stream: 'stdout' | 'stderr'): Promise<string> {
  return new Promise((resolve, reject) => {
    let text = '';
    child[stream]!.on('data', (c: Buffer) => {
      text += c.toString();
      const m = pattern.exec(text);
      if (m) resolve(m[1]!);
    });
    child.on('exit', (code) => reject(new Error(`process exited (${code}) before it was ready: ${text}`)));
  });
}

const UPSTREAM = `
const http = require('node:http');
const body = Buffer.from('{"id":123,"author":"William Shakespeare","year":1595,"type":"paperback","pages":200}');
const server = http.createServer((req, res) => {
  req.resume();
  req.on('end', () => { res.setHeader('content-type', 'application/json'); res.end(body); });
});
server.listen(0, '127.0.0.1', () => console.log('port ' + server.address().port));
`;

async function startUpstream(): Promise<{ url: string; child: ChildProcess }> {
  const child = spawn(process.execPath, ['-e', UPSTREAM], { stdio: ['ignore', 'pipe', 'inherit'] });
  const port = await waitFor(child, /port (\d+)/, 'stdout');
  return { url: `http://127.0.0.1:${port}`, child };
}

let cli: string | undefined;
/** The sidecar as it ships (compiled, plain node): tsx's helpers would tax every request. */
function shippedCli(): string {
  cli ??= buildCli();
  return cli;
}

async function startSidecar(
  upstream: string,
  filterArgs: string[],
  cliPath = shippedCli(),
): Promise<{ url: string; child: ChildProcess }> {
  const child = spawn(
    process.execPath,
    [cliPath, 'run', '--upstream', upstream, '--listen', '127.0.0.1:0', ...filterArgs],
    { stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, MESHWASM_LOG_LEVEL: 'warn' } },
  );
  const url = await waitFor(child, /listening on (http:\/\/\S+),/, 'stderr');
  return { url, child };
}

const idleIO = (): HostIO => ({
  hasCluster: () => false,
  httpCall: () => undefined,
  setTickPeriod: () => undefined,
  close: () => undefined,
});

/** An empty proxy-wasm module: the host's own floor for cold start and per-stream cost. */
async function emptyFilter(): Promise<Uint8Array> {
  const wabt = await wabtInit();
  const parsed = wabt.parseWat(
    'empty.wat',
    '(module (memory (export "memory") 1) (func (export "proxy_abi_version_0_2_1")))',
  );
  try {
    return new Uint8Array(parsed.toBinary({}).buffer);
  } finally {
    parsed.destroy();
  }
}

async function coldStartMs(bytes: Uint8Array, runs: number): Promise<number[]> {
  const times: number[] = [];
  for (let i = 0; i < runs; i++) {
    const start = process.hrtime.bigint();
    const plugin = await FilterPlugin.load(bytes, {
      name: 'bench',
      io: idleIO,
      configuration: '{"name":"hello","value":"hello details"}',
    });
    times.push(Number(process.hrtime.bigint() - start) / 1e6);
    plugin.close();
  }
  return times.sort((a, b) => a - b);
}

/** Create a stream, request headers, response headers, one response body chunk, done/log/delete. */
async function perStreamMicros(bytes: Uint8Array, streams: number): Promise<number> {
  const plugin = await FilterPlugin.load(bytes, { name: 'bench', io: idleIO });
  const body = new TextEncoder().encode('{"id":123}');
  const run = (n: number): void => {
    for (let i = 0; i < n; i++) {
      const s = plugin.newStreamSync()!;
      s.requestHeaders(
        [
          [':method', 'GET'],
          [':path', '/details/123'],
          [':authority', 'details'],
        ],
        true,
      );
      s.responseHeaders(
        [
          [':status', '200'],
          ['content-type', 'application/json'],
        ],
        false,
      );
      s.responseBody(body, true);
      s.takeBody('response');
      s.finish();
    }
  };
  run(2000); // warm up the JIT on both sides of the boundary
  const start = process.hrtime.bigint();
  run(streams);
  const micros = Number(process.hrtime.bigint() - start) / 1e3 / streams;
  plugin.close();
  return micros;
}

const median = (xs: number[]): number => xs[Math.floor(xs.length / 2)]!;
const fmt = (n: number, digits = 2): string => n.toFixed(digits);

const FILTER_ARGS = [
  '--filter',
  FILTER,
  '--root-id',
  'my_root_id',
  '--config',
  '{"name":"hello","value":"hello details"}',
];

async function bodies(): Promise<void> {
  const upstream = await startBodyUpstream();
  const proxy = await startNodeProxy(upstream.url);
  const pipe = await startTcpPipe(upstream.url);
  const plain = await startSidecar(upstream.url, []);
  const filtered = await startSidecar(upstream.url, FILTER_ARGS);
  const beforeCli = process.env.MESHWASM_BENCH_BEFORE_CLI;
  const before = beforeCli ? await startSidecar(upstream.url, FILTER_ARGS, beforeCli) : undefined;
  try {
    const rounds = Math.max(1, ROUNDS);
    const t = await largeBodies(
      {
        direct: { url: upstream.url, pid: upstream.child.pid! },
        proxy: { url: proxy.url, pid: proxy.child.pid! },
        pipe: { url: pipe.url, pid: pipe.child.pid! },
        sidecar: { url: filtered.url, pid: filtered.child.pid! },
        ...(before ? { before: { url: before.url, pid: before.child.pid! } } : {}),
      },
      rounds,
    );
    const rss = peakRssMb(filtered.child.pid!);
    const [direct, floor, ceiling, sidecar] = [t.direct!, t.proxy!, t.pipe!, t.sidecar!];
    const mib = SIZES.DOWNLOAD_BYTES / 2 ** 20;
    const mb = SIZES.UPLOAD_BYTES / 1e6;
    console.log(
      `large bodies with curl, ${rounds} interleaved rounds, medians; sidecar = meshwasm run + header filter`,
    );
    for (const [what, key] of [
      [`download ${mib} MiB`, 'download'],
      [`upload ${mb} MB`, 'upload'],
    ] as const) {
      console.log(
        `  ${what}: direct ${fmt(direct[key], 3)} s, node:http proxy ${fmt(floor[key], 3)} s, sidecar ${fmt(sidecar[key], 3)} s;` +
          ` throughput vs direct: sidecar ${fmt(direct[key] / sidecar[key])}x (target >= 0.5),` +
          ` node:http proxy ${fmt(direct[key] / floor[key])}x, TCP pipe ${fmt(direct[key] / ceiling[key])}x` +
          (t.before ? `; build before ${fmt(direct[key] / t.before[key])}x` : ''),
      );
      // CPU seconds of the serving process per transfer: far less sensitive to other load on the machine.
      console.log(
        `    CPU per ${key}: upstream (direct) ${fmt(direct[`${key}Cpu`], 3)} s, node:http proxy ${fmt(floor[`${key}Cpu`], 3)} s,` +
          ` TCP pipe ${fmt(ceiling[`${key}Cpu`], 3)} s, sidecar ${fmt(sidecar[`${key}Cpu`], 3)} s` +
          (t.before ? `, build before ${fmt(t.before[`${key}Cpu`], 3)} s` : ''),
      );
    }
    console.log(`  sidecar peak RSS over both ${fmt(rss, 1)} MB (target < 150)`);
    const plainMs = await addedChunkLatencyMs(upstream.url, plain.url);
    const filteredMs = await addedChunkLatencyMs(upstream.url, filtered.url);
    console.log(
      `slow stream, ${SIZES.SLOW_CHUNKS} chunks ${SIZES.SLOW_INTERVAL_MS} ms apart: latency added per chunk (median)` +
        ` ${fmt(plainMs)} ms without a filter, ${fmt(filteredMs)} ms with the header filter`,
    );
  } finally {
    for (const p of [filtered, plain, pipe, proxy, upstream, ...(before ? [before] : [])])
      p.child.kill('SIGTERM');
  }
}

async function main(): Promise<void> {
  if (!existsSync(FILTER))
    execFileSync('npm', ['run', '--silent', 'build:filter'], { cwd: root, stdio: 'inherit' });
  const part = process.env.BENCH_PART;
  if (part !== 'load') await bodies();
  if (part === 'bodies') return;
  const filterBytes = new Uint8Array(readFileSync(FILTER));

  const cold = await coldStartMs(filterBytes, 30);
  const empty = await emptyFilter();
  const coldEmpty = await coldStartMs(empty, 30);
  const bareUs = await perStreamMicros(filterBytes, 20000);
  // As `meshwasm run` runs filters: with its --filter-timeout watchdog watching every guest call.
  const watchdog = Watchdog.start({ timeoutMs: 10_000 });
  const streamUs = await perStreamMicros(filterBytes, 20000);
  const emptyUs = await perStreamMicros(empty, 20000);
  await watchdog.stop();

  const upstream = await startUpstream();
  const plain = await startSidecar(upstream.url, []);
  const filtered = await startSidecar(upstream.url, FILTER_ARGS);
  const beforeCli = process.env.MESHWASM_BENCH_BEFORE_CLI;
  const before = beforeCli
    ? {
        plain: await startSidecar(upstream.url, [], beforeCli),
        filtered: await startSidecar(upstream.url, FILTER_ARGS, beforeCli),
      }
    : undefined;
  const servers: Record<string, { url: string; child: ChildProcess }> = {
    a: upstream,
    b: plain,
    c: filtered,
  };
  if (before) Object.assign(servers, { b0: before.plain, c0: before.filtered });
  try {
    for (const p of Object.values(servers)) wrk(`${p.url}/details/123`, 1, p.child.pid!); // warm-up
    // Interleaved rounds, medians: the machine is shared, so a burst of other load hits all alike; each
    // server after a pause and in turns at going first (lib/rounds.ts).
    const runs: Record<string, Load[]> = {};
    for (let round = 0; round < ROUNDS; round++) {
      const jobs = Object.entries(servers).map(([key, p]) => async () => {
        (runs[key] ??= []).push(wrk(`${p.url}/details/123`, SECONDS, p.child.pid!));
      });
      await runRound(round, jobs);
    }
    const pick = (xs: Load[]): Load => ({
      rps: median(xs.map((x) => x.rps).sort((p, q) => p - q)),
      p99ms: median(xs.map((x) => x.p99ms).sort((p, q) => p - q)),
      cpuUs: median(xs.map((x) => x.cpuUs).sort((p, q) => p - q)),
    });
    const [a, b, c] = [pick(runs.a!), pick(runs.b!), pick(runs.c!)];
    const rows: Array<[string, Load]> = [
      ['(a) upstream direct', a],
      ['(b) meshwasm run, no filter', b],
      ['(c) meshwasm run + header filter', c],
    ];
    if (before) {
      rows.push(['(b0) build before, no filter', pick(runs.b0!)]);
      rows.push(['(c0) build before, header filter', pick(runs.c0!)]);
    }
    console.log(
      `sidecar load: wrk, ${CONNECTIONS} connections, ${ROUNDS} interleaved rounds of ${SECONDS}s, medians`,
    );
    for (const [label, r] of rows)
      console.log(
        `  ${label.padEnd(34)} ${fmt(r.rps, 0).padStart(8)} req/s   p99 ${fmt(r.p99ms)} ms   CPU/request ${fmt(r.cpuUs, 1)} us`,
      );
    console.log(`  throughput c/b ${fmt(c.rps / b.rps)} (target >= 0.85)   b/a ${fmt(b.rps / a.rps)}`);
    console.log(`  p99 latency c/b ${fmt(c.p99ms / b.p99ms)}   b/a ${fmt(b.p99ms / a.p99ms)}`);
    // CPU per request of the serving process is far less sensitive to other load on a shared machine.
    console.log(
      `  CPU per request: (a) upstream ${fmt(a.cpuUs, 1)} us, (b) sidecar ${fmt(b.cpuUs, 1)} us, (c) sidecar ${fmt(c.cpuUs, 1)} us;` +
        ` the filter adds ${fmt(c.cpuUs - b.cpuUs, 1)} us; efficiency b/c ${fmt(b.cpuUs / c.cpuUs)}`,
    );
    if (before) {
      const [b0, c0] = [pick(runs.b0!), pick(runs.c0!)];
      console.log(
        `  build before: throughput c0/b0 ${fmt(c0.rps / b0.rps)}; the filter adds ${fmt(c0.cpuUs - b0.cpuUs, 1)} us;` +
          ` this build vs before: c/c0 throughput ${fmt(c.rps / c0.rps)}, CPU ${fmt(c.cpuUs / c0.cpuUs)}x;` +
          ` b/b0 throughput ${fmt(b.rps / b0.rps)}, CPU ${fmt(b.cpuUs / b0.cpuUs)}x`,
      );
    }
  } finally {
    for (const p of Object.values(servers).reverse()) p.child.kill('SIGTERM');
  }
  console.log('filter VM cold start (compile + instantiate + vm_start + configure), 30 runs');
  console.log(`  header filter  median ${fmt(median(cold))} ms   max ${fmt(cold.at(-1)!)} ms`);
  console.log(
    `  empty module   median ${fmt(median(coldEmpty))} ms   ratio ${fmt(median(cold) / median(coldEmpty))}x`,
  );
  console.log(
    'per-stream callback cost (context create, request headers, response headers, body, done/log/delete)',
  );
  console.log(
    `  header filter  ${fmt(streamUs)} us (target < 20 us); without the watchdog ${fmt(bareUs)} us`,
  );
  console.log(`  empty module   ${fmt(emptyUs)} us   ratio ${fmt(streamUs / emptyUs)}x`);
}

await main();
