/**
 * Node agent benchmark. Cold sync of 50 distinct 1 MiB modules from the local registry (docker-registry
 * on loopback), against a baseline measured in the same run: the same 50 blob downloads by curl with the
 * same parallelism, writing files too; both straight to the registry. A second baseline does the same
 * work as the agent with standard tools, to show what the first one leaves out: curl fetching each
 * module's manifest and blob, then openssl hashing every blob (checked against its digest; openssl, not
 * sha256sum, because it uses the CPU's SHA extensions as Node does), then sync (fsync) of every file.
 * Then a warm restart with the same 50 through a counting proxy (test/support/fault-proxy.ts): time to
 * ready and blob bytes at the wire.
 *
 *   npx tsx bench/agent.ts            targets: cold sync <= 1.5x curl; warm restart downloads 0 bytes
 */
import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { pino } from 'pino';
import { startAgent } from '../src/agent/index.js';
import { MediaType, OciSession, pushWasm } from '../src/oci/index.js';
import { startFaultProxy } from '../test/support/fault-proxy.js';
import { startRegistry } from '../test/support/registry.js';
import { moduleWithCustomSection } from '../test/support/wasm-fixtures.js';

const run = promisify(execFile);
const MODULES = 50;
const SIZE = 1024 * 1024;
const PARALLEL = Number(process.env.BENCH_PARALLEL ?? 4);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 5);

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const ms = (n: number) => `${n.toFixed(0)} ms`;

const registry = await startRegistry();
const proxy = await startFaultProxy({ upstream: registry.url });
const work = mkdtempSync(join(tmpdir(), 'meshwasm-bench-agent-'));
const log = pino({ level: 'warn' });
try {
  const session = new OciSession({ plainHttp: true });
  const refs: string[] = [];
  const proxied: string[] = [];
  const blobs: string[] = [];
  const manifests: string[] = [];
  const blobHexes: string[] = [];
  for (let i = 0; i < MODULES; i++) {
    const file = join(work, `m${i}.wasm`);
    writeFileSync(file, moduleWithCustomSection(SIZE, `bench-${i}`));
    const { target } = await session.open(`${registry.host}/bench/m${i}:v1`);
    const pushed = await pushWasm(target, 'v1', file, { format: 'artifact' });
    refs.push(`${registry.host}/bench/m${i}@${pushed.descriptor.digest}`);
    proxied.push(`${proxy.host}/bench/m${i}@${pushed.descriptor.digest}`);
    blobs.push(`${registry.url}/v2/bench/m${i}/blobs/${pushed.layer.digest}`);
    manifests.push(`${registry.url}/v2/bench/m${i}/manifests/${pushed.descriptor.digest}`);
    blobHexes.push(pushed.layer.digest.slice('sha256:'.length));
  }
  await session.close();
  const imagesFile = join(work, 'images');
  writeFileSync(imagesFile, `${refs.join('\n')}\n`);
  const proxiedImagesFile = join(work, 'images-proxied');
  writeFileSync(proxiedImagesFile, `${proxied.join('\n')}\n`);

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

  const toolsOnce = async (round: number): Promise<number> => {
    const out = join(work, `tools-${round}`);
    mkdirSync(out);
    const args = ['--silent', '--fail', '--parallel', '--parallel-max', String(PARALLEL)];
    args.push('-H', `Accept: ${MediaType.ociManifest}`);
    blobs.forEach((url, i) =>
      args.push('-o', join(out, `m${i}`), manifests[i]!, '-o', join(out, `b${i}`), url),
    );
    const started = performance.now();
    await run('curl', args, { maxBuffer: 1 << 20 });
    const files = blobs.map((_, i) => join(out, `b${i}`));
    const { stdout } = await run('openssl', ['dgst', '-sha256', '-r', ...files]);
    const hashes = stdout
      .trim()
      .split('\n')
      .map((line) => line.slice(0, 64));
    if (hashes.join() !== blobHexes.join()) throw new Error('the tools baseline read a wrong blob');
    await run('sync', files);
    const elapsed = performance.now() - started;
    rmSync(out, { recursive: true, force: true });
    return elapsed;
  };

  const agentOnce = async (dir: string, imagesFile: string) => {
    const bytesBefore = proxy.blobBytes;
    const started = performance.now();
    const agent = await startAgent({
      dir,
      imagesFile,
      plainHttp: true,
      host: '127.0.0.1',
      port: 0,
      jitterMs: 0,
      concurrency: Number(process.env.BENCH_AGENT_PARALLEL ?? PARALLEL),
      log,
    });
    await agent.agent.whenReady();
    const elapsed = performance.now() - started;
    const present = agent.store.digests().length;
    await agent.stop();
    return { elapsed, bytes: proxy.blobBytes - bytesBefore, present };
  };

  // Interleaved rounds, so a slow moment of the machine hits both sides alike.
  const curlTimes: number[] = [];
  const toolTimes: number[] = [];
  const coldTimes: number[] = [];
  const ratios: number[] = [];
  const toolRatios: number[] = [];
  let lastDir = '';
  await curlOnce(-1); // warm the registry's page cache and the proxy
  for (let round = 0; round < ROUNDS; round++) {
    curlTimes.push(await curlOnce(round));
    toolTimes.push(await toolsOnce(round));
    lastDir = join(work, `agent-${round}`);
    const cold = await agentOnce(lastDir, imagesFile);
    if (cold.present !== MODULES)
      throw new Error(`cold sync ended with ${cold.present} of ${MODULES} modules`);
    coldTimes.push(cold.elapsed);
    ratios.push(cold.elapsed / curlTimes[round]!);
    toolRatios.push(cold.elapsed / toolTimes[round]!);
  }
  const warm = await agentOnce(lastDir, proxiedImagesFile);
  if (warm.present !== MODULES)
    throw new Error(`warm restart ended with ${warm.present} of ${MODULES} modules`);

  const curl = median(curlTimes);
  const cold = median(coldTimes);
  // The median of per-round ratios: each round's two sides ran back to back under the same load.
  const ratio = median(ratios);
  console.log(
    `agent benchmark: ${MODULES} distinct modules of ${SIZE / 1024} KiB, parallelism ${PARALLEL}, median of ${ROUNDS}`,
  );
  console.log(`  baseline curl --parallel (blobs only): ${ms(curl)}   [${curlTimes.map(ms).join(', ')}]`);
  console.log(
    `  same work by tools (curl manifests and blobs, openssl sha256, sync): ${ms(median(toolTimes))}   [${toolTimes.map(ms).join(', ')}]`,
  );
  console.log(
    `  agent cold sync (resolve, verify, fsync, rename, record): ${ms(cold)}   [${coldTimes.map(ms).join(', ')}]`,
  );
  console.log(
    `  cold sync / curl = ${ratio.toFixed(2)}x (median of per-round ratios [${ratios.map((r) => r.toFixed(2)).join(', ')}])   target <= 1.5x: ${ratio <= 1.5 ? 'OK' : 'MISSED'}`,
  );
  console.log(
    `  cold sync / same work by tools = ${median(toolRatios).toFixed(2)}x (median of [${toolRatios.map((r) => r.toFixed(2)).join(', ')}])`,
  );
  console.log(
    `  warm restart: ready in ${ms(warm.elapsed)} (${(warm.elapsed / curl).toFixed(2)}x the curl baseline), blob bytes downloaded ${warm.bytes} (target 0): ${warm.bytes === 0 ? 'OK' : 'MISSED'}`,
  );
} finally {
  await proxy.stop();
  await registry.destroy();
  rmSync(work, { recursive: true, force: true });
}
