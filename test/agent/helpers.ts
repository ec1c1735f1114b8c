/**
 * Shared fixtures of the agent tests: pushing real Wasm images of every format to the real registry,
 * running the agent in-process (startAgent, logs captured) or as the CLI child process, and waiting for
 * conditions without timing assertions.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { createGzip } from 'node:zlib';
import { createLogger } from '../../src/log.js';
import { afterAll, beforeAll } from 'vitest';
import { pack } from 'tar-stream';
import { startAgent, type AgentOptions, type RunningAgent } from '../../src/agent/index.js';
import { startFaultProxy, type FaultProxy } from '../support/fault-proxy.js';
import { startRegistry, type TestRegistry } from '../support/registry.js';
import {
  MediaType,
  OciSession,
  pushWasm,
  sha256Digest,
  type Credential,
  type Descriptor,
  type Target,
} from '../../src/oci/index.js';

export const REPO_ROOT = new URL('../../', import.meta.url).pathname;
export const HEADER_FILTER = join(REPO_ROOT, 'examples/header-filter/build/header-filter.wasm');

export type Format = 'artifact' | 'compat' | 'wasme' | 'docker';

export interface Pushed {
  /** registry/repo@sha256:... */
  pinned: string;
  /** registry/repo:tag */
  tagged: string;
  digest: string;
  hex: string;
  moduleDigest: string;
  module: Buffer;
}

const made: string[] = [];

/** A fresh temporary directory, removed by removeTempDirs() (call it in afterAll). */
export function tempDir(prefix = 'meshwasm-agent-'): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  made.push(dir);
  return dir;
}

export function removeTempDirs(): void {
  for (const dir of made.splice(0)) rmSync(dir, { recursive: true, force: true });
}

export function pushSession(credential?: Credential): OciSession {
  return new OciSession({
    plainHttp: true,
    credentials: { get: async () => credential },
  });
}

/** Pushes `module` as `host/repo:tag` in the given format; returns the pinned reference. */
export async function pushModule(
  session: OciSession,
  host: string,
  repo: string,
  tag: string,
  module: Buffer,
  format: Format = 'artifact',
): Promise<Pushed> {
  const { target } = await session.open(`${host}/${repo}:${tag}`);
  let digest: string;
  if (format === 'artifact' || format === 'compat') {
    const file = join(tempDir('meshwasm-push-'), 'filter.wasm');
    writeFileSync(file, module);
    digest = (await pushWasm(target, tag, file, { format })).descriptor.digest;
  } else {
    digest =
      format === 'wasme' ? await pushWasme(target, tag, module) : await pushDocker(target, tag, module);
  }
  return {
    pinned: `${host}/${repo}@${digest}`,
    tagged: `${host}/${repo}:${tag}`,
    digest,
    hex: digest.slice('sha256:'.length),
    moduleDigest: sha256Digest(module),
    module,
  };
}

async function pushBlob(target: Target, mediaType: string, bytes: Buffer): Promise<Descriptor> {
  const d: Descriptor = { mediaType, digest: sha256Digest(bytes), size: bytes.length };
  await target.push(d, bytes);
  return d;
}

async function pushManifest(
  target: Target,
  tag: string,
  manifest: object,
  mediaType: string,
): Promise<string> {
  const bytes = Buffer.from(JSON.stringify(manifest));
  const d: Descriptor = { mediaType, digest: sha256Digest(bytes), size: bytes.length };
  await target.push(d, bytes);
  await target.tag(d, tag);
  return d.digest;
}

/** solo.io wasme's layout: the runtime config repeated as the first of two layers. */
async function pushWasme(target: Target, tag: string, module: Buffer): Promise<string> {
  const cfg = Buffer.from(
    JSON.stringify({ type: 'envoy_proxy', abiVersions: ['v0.2.1'], config: { rootIds: ['r'] } }),
  );
  const config = await pushBlob(target, MediaType.wasmConfig, cfg);
  const layer = await pushBlob(target, MediaType.wasmLayer, module);
  return pushManifest(
    target,
    tag,
    { schemaVersion: 2, mediaType: MediaType.ociManifest, config, layers: [config, layer] },
    MediaType.ociManifest,
  );
}

/** A Docker v2 image whose last tar.gz layer holds plugin.wasm. */
async function pushDocker(target: Target, tag: string, module: Buffer): Promise<string> {
  const tar = pack();
  tar.entry({ name: 'plugin.wasm', size: module.length, mode: 0o644 }, module);
  tar.finalize();
  const chunks: Buffer[] = [];
  await new Promise<void>((resolve, reject) => {
    const gz = tar.pipe(createGzip());
    gz.on('data', (c: Buffer) => chunks.push(c));
    gz.on('end', resolve);
    gz.on('error', reject);
  });
  const layer = await pushBlob(target, MediaType.dockerLayerTarGzip, Buffer.concat(chunks));
  const config = await pushBlob(
    target,
    MediaType.dockerConfig,
    Buffer.from(
      JSON.stringify({ architecture: 'wasm', os: 'wasip1', rootfs: { type: 'layers', diff_ids: [] } }),
    ),
  );
  return pushManifest(
    target,
    tag,
    { schemaVersion: 2, mediaType: MediaType.dockerManifest, config, layers: [layer] },
    MediaType.dockerManifest,
  );
}

export interface CapturedLog {
  level: number;
  msg: string;
  [key: string]: unknown;
}

export interface InProcessAgent {
  running: RunningAgent;
  logs: CapturedLog[];
  text(): string;
  stop(): Promise<void>;
}

/** startAgent with quick defaults for tests (no jitter, fast retries, any port) and captured logs. */
export async function runAgent(options: AgentOptions): Promise<InProcessAgent> {
  const logs: CapturedLog[] = [];
  const raw: string[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _enc, cb) {
      for (const line of chunk.toString().split('\n').filter(Boolean)) {
        raw.push(line);
        logs.push(JSON.parse(line) as CapturedLog);
      }
      cb();
    },
  });
  const running = await startAgent({
    host: '127.0.0.1',
    port: 0,
    plainHttp: true,
    jitterMs: 0,
    retryBaseMs: 100,
    retryMaxMs: 1000,
    httpRetryBaseMs: 20,
    httpRetryMaxMs: 200,
    pollMs: 200,
    log: createLogger('test', 'debug', stream),
    ...options,
  });
  return { running, logs, text: () => raw.join('\n'), stop: () => running.stop() };
}

/** Retries `check` until it stops throwing; the timeout only bounds a failing test. */
export async function eventually<T>(
  check: () => T | Promise<T>,
  timeoutMs = 20_000,
  everyMs = 50,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      return await check();
    } catch (err) {
      if (Date.now() > deadline) throw err;
      await new Promise((r) => setTimeout(r, everyMs));
    }
  }
}

export async function getJson(
  port: number,
  path: string,
): Promise<{ status: number; body: unknown; text: string }> {
  const res = await fetch(`http://127.0.0.1:${port}${path}`);
  const text = await res.text();
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    body = undefined;
  }
  return { status: res.status, body, text };
}

/** The value of one Prometheus sample in /metrics text, e.g. metric('meshwasm_agent_pulls_total{result="success"}'). */
export function metricValue(text: string, sample: string): number | undefined {
  for (const line of text.split('\n')) {
    if (line.startsWith(`${sample} `)) return Number(line.slice(sample.length + 1));
  }
  return undefined;
}

export interface AgentProcess {
  child: ChildProcess;
  logs: CapturedLog[];
  stdout(): string;
  stderr(): string;
  waitForLog(predicate: (log: CapturedLog) => boolean, timeoutMs?: number): Promise<CapturedLog>;
  port(): Promise<number>;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

/** Runs `./bin/meshwasm.js agent ...args` as a child process, parsing its JSON log lines. */
export function spawnAgent(args: string[], env: Record<string, string> = {}): AgentProcess {
  const child = spawn(process.execPath, [join(REPO_ROOT, 'bin/meshwasm.js'), 'agent', ...args], {
    cwd: REPO_ROOT,
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const logs: CapturedLog[] = [];
  let out = '';
  let err = '';
  let partial = '';
  child.stdout!.on('data', (chunk: Buffer) => {
    out += chunk.toString();
    partial += chunk.toString();
    const lines = partial.split('\n');
    partial = lines.pop() ?? '';
    for (const line of lines.filter(Boolean)) {
      try {
        logs.push(JSON.parse(line) as CapturedLog);
      } catch {
        // not a log line
      }
    }
  });
  child.stderr!.on('data', (chunk: Buffer) => (err += chunk.toString()));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once('exit', (code, signal) => resolve({ code, signal })),
  );
  const waitForLog = (predicate: (log: CapturedLog) => boolean, timeoutMs = 30_000) =>
    eventually(() => {
      const found = logs.find(predicate);
      if (!found) {
        if (child.exitCode !== null)
          throw new Error(`agent exited (${child.exitCode}) before the log line: ${err}`);
        throw new Error(`no such log line yet; stdout:\n${out.slice(-3000)}\nstderr:\n${err.slice(-2000)}`);
      }
      return found;
    }, timeoutMs);
  return {
    child,
    logs,
    stdout: () => out,
    stderr: () => err,
    waitForLog,
    port: async () => (await waitForLog((l) => l.msg.startsWith('listening'))).port as number,
    exited,
  };
}

/** The common fixture of the agent tests: a registry, a fault proxy in front of it, a push session. */
export interface ProxiedRegistry {
  registry: TestRegistry;
  proxy: FaultProxy;
  session: OciSession;
  /** A pushed module's pinned reference, through the proxy. */
  viaProxy(pushed: Pushed): string;
  /** Removes temporary directories and stops all three. */
  stop(): Promise<void>;
}

/** Starts the fixture before the calling file's tests and stops it after; its fields are set by then. */
export function useProxiedRegistry(): ProxiedRegistry {
  const fixture = {} as ProxiedRegistry;
  beforeAll(async () => {
    Object.assign(fixture, await startProxiedRegistry());
  });
  afterAll(async () => fixture.stop?.());
  return fixture;
}

export async function startProxiedRegistry(): Promise<ProxiedRegistry> {
  const registry = await startRegistry();
  const proxy = await startFaultProxy({ upstream: registry.url });
  const session = pushSession();
  return {
    registry,
    proxy,
    session,
    viaProxy: (pushed) => pushed.pinned.replace(registry.host, proxy.host),
    async stop() {
      removeTempDirs();
      await session.close();
      await proxy.stop();
      await registry.destroy();
    },
  };
}
