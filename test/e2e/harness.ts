/**
 * What the end-to-end walkthroughs share: the CLI as a process, long-running meshwasm processes (agents,
 * controller) stopped together, the `details` service of the seed, and one request to it through a
 * meshwasm sidecar configured from an EnvoyFilter, as istio-proxy would be.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { filterFromEnvoyFilter, startSidecar } from '../../src/sidecar/index.js';

export const root = new URL('../..', import.meta.url).pathname;
export const BIN = join(root, 'bin', 'meshwasm.js');
export const FILTER = join(root, 'examples', 'header-filter', 'build', 'header-filter.wasm');

export const sh = promisify(execFile);

/** Runs `meshwasm ARGS` to completion (stdin from `input`), resolving with stdout; rejects on exit != 0. */
export function cliRunner(options: { env?: Record<string, string>; cwd?: string } = {}) {
  return async (args: string[], input?: string): Promise<string> => {
    const child = sh(process.execPath, [BIN, ...args], {
      env: { ...process.env, ...options.env },
      ...(options.cwd ? { cwd: options.cwd } : {}),
    });
    if (input !== undefined) child.child.stdin?.end(input);
    return (await child).stdout;
  };
}

/** Polls `fn` until it returns something truthy; the last error is in the timeout's message. */
export async function until<T>(
  what: string,
  fn: () => Promise<T | undefined | false> | T | undefined | false,
  timeoutMs = 30_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const value = await fn();
      if (value) return value;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline)
      throw new Error(`timed out waiting for ${what}${last ? `: ${(last as Error).message}` : ''}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** meshwasm processes that run until the suite ends (warnings and errors go to the test's stderr). */
export class Processes {
  private readonly children: ChildProcess[] = [];

  start(args: string[], env: Record<string, string> = {}): ChildProcess {
    const child = spawn(process.execPath, [BIN, ...args], {
      env: { ...process.env, ...env, MESHWASM_LOG_LEVEL: 'warn' },
      stdio: ['ignore', 'ignore', 'inherit'],
    });
    this.children.push(child);
    return child;
  }

  async stopAll(): Promise<void> {
    for (const child of this.children) child.kill('SIGTERM');
    await Promise.all(
      this.children.map((c) => (c.exitCode === null ? new Promise((r) => c.once('exit', r)) : undefined)),
    );
  }
}

/** The seed's `details` service: answers every request with `body` as JSON. */
export async function startDetails(body: unknown): Promise<{ url: string; close(): Promise<void> }> {
  const server = createServer((_req, res) => {
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify(body));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}

/** `GET /details/123` through a sidecar running the filter `envoyFilter` loads from `nodeDir`. */
export async function requestThroughSidecar(
  upstream: string,
  envoyFilter: unknown,
  nodeDir: string,
): Promise<Response> {
  const sidecar = await startSidecar({ upstream, filters: [filterFromEnvoyFilter(envoyFilter, nodeDir)] });
  try {
    const res = await fetch(`${sidecar.url}/details/123`);
    await res.arrayBuffer();
    return res;
  } finally {
    await sidecar.close();
  }
}
