import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { readFileSync } from 'node:fs';
import { freePort } from './ports.js';
import { makeTestPki, type TestPki } from './tls.js';
import { startTokenServer, type TokenServer } from './token-server.js';

export interface RegistryOptions {
  /** 'basic': htpasswd (bcrypt); 'token': Bearer tokens from a token server in this folder. */
  auth?: 'none' | 'basic' | 'token';
  tls?: boolean;
  username?: string;
  password?: string;
  /** token auth: the token server answers each request after this long */
  tokenDelayMs?: number;
}

export interface TestRegistry {
  /** host:port, as used in references */
  host: string;
  /** http(s)://host:port */
  url: string;
  port: number;
  dataDir: string;
  username: string;
  password: string;
  /** CA bundle that verifies the registry's certificate (tls only) */
  caFile?: string;
  pki?: TestPki;
  tokenServer?: TokenServer;
  stop(): Promise<void>;
  /** Starts it again on the same port and storage after stop(). */
  start(): Promise<void>;
  /** stop() and remove every file. */
  destroy(): Promise<void>;
}

/**
 * Starts Debian's docker-registry (distribution 2.8) on a random loopback port. A port taken by another
 * process between choosing and binding it (tests run in parallel) means another try on a new port.
 */
export async function startRegistry(options: RegistryOptions = {}): Promise<TestRegistry> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await startOnce(options);
    } catch (err) {
      if (attempt >= 3 || !(err instanceof PortTaken)) throw err;
    }
  }
}

class PortTaken extends Error {}

async function startOnce(options: RegistryOptions): Promise<TestRegistry> {
  const auth = options.auth ?? 'none';
  const username = options.username ?? 'alice';
  const password = options.password ?? 's3cret-Pa55';
  const dir = mkdtempSync(join(tmpdir(), 'meshwasm-registry-'));
  const dataDir = join(dir, 'data');
  const port = await freePort();
  // Answers carry this header, so a start that lost its port to another process is noticed.
  const instance = randomBytes(8).toString('hex');
  const pki = options.tls ? makeTestPki() : undefined;
  const lines = [
    'version: 0.1',
    'log:',
    '  level: error',
    '  accesslog:',
    '    disabled: true',
    'storage:',
    '  filesystem:',
    `    rootdirectory: ${dataDir}`,
    '  delete:',
    '    enabled: true',
    'http:',
    `  addr: 127.0.0.1:${port}`,
    `  secret: meshwasm-test-${port}`,
    '  headers:',
    `    X-Meshwasm-Registry: [${instance}]`,
  ];
  if (pki) lines.push('  tls:', `    certificate: ${pki.cert}`, `    key: ${pki.key}`);
  let tokenServer: TokenServer | undefined;
  if (auth === 'basic') {
    const htpasswd = join(dir, 'htpasswd');
    execFileSync('htpasswd', ['-Bbc', htpasswd, username, password], { stdio: 'pipe' });
    lines.push('auth:', '  htpasswd:', '    realm: meshwasm-test', `    path: ${htpasswd}`);
  } else if (auth === 'token') {
    tokenServer = await startTokenServer({
      users: { [username]: password },
      refreshTokens: { [`refresh-${password}`]: username },
      service: 'meshwasm-test-registry',
      ...(pki ? { tls: { cert: pki.cert, key: pki.key } } : {}),
      ...(options.tokenDelayMs ? { delayMs: options.tokenDelayMs } : {}),
    });
    lines.push(
      'auth:',
      '  token:',
      `    realm: ${tokenServer.realm}`,
      `    service: ${tokenServer.service}`,
      `    issuer: ${tokenServer.issuer}`,
      `    rootcertbundle: ${tokenServer.certFile}`,
    );
  }
  const configFile = join(dir, 'config.yml');
  writeFileSync(configFile, lines.join('\n') + '\n');

  const scheme = pki ? 'https' : 'http';
  let child: ChildProcess | undefined;
  const registry: TestRegistry = {
    host: `127.0.0.1:${port}`,
    url: `${scheme}://127.0.0.1:${port}`,
    port,
    dataDir,
    username,
    password,
    caFile: pki?.caCert,
    pki,
    tokenServer,
    async start() {
      let stderr = '';
      child = spawn('docker-registry', ['serve', configFile], { stdio: ['ignore', 'ignore', 'pipe'] });
      const started = child;
      // Never outlive the test process, even when it is killed by a timeout.
      process.once('exit', () => started.kill('SIGKILL'));
      child.stderr?.on('data', (chunk: Buffer) => (stderr = (stderr + chunk.toString()).slice(-4000)));
      await waitReady(registry.url, instance, pki?.caCert, () =>
        child?.exitCode !== null ? stderr || 'exited' : undefined,
      );
    },
    async stop() {
      const c = child;
      child = undefined;
      if (!c || c.exitCode !== null) return;
      await new Promise<void>((resolve) => {
        c.once('exit', () => resolve());
        c.kill('SIGTERM');
        setTimeout(() => c.kill('SIGKILL'), 3000).unref();
      });
    },
    async destroy() {
      await registry.stop();
      await tokenServer?.stop();
      rmSync(dir, { recursive: true, force: true });
      if (pki) rmSync(pki.dir, { recursive: true, force: true });
    },
  };
  try {
    await registry.start();
  } catch (err) {
    await registry.destroy();
    throw err;
  }
  return registry;
}

async function waitReady(
  url: string,
  instance: string,
  caFile: string | undefined,
  failed: () => string | undefined,
): Promise<void> {
  const ca = caFile ? readFileSync(caFile) : undefined;
  const deadline = Date.now() + 20_000;
  for (;;) {
    const why = failed();
    if (why && /address already in use/.test(why)) throw new PortTaken(why);
    if (why) throw new Error(`docker-registry did not start: ${why}`);
    const answeredBy = await new Promise<string | undefined | false>((resolve) => {
      const req = (url.startsWith('https') ? httpsRequest : httpRequest)(`${url}/v2/`, { ca }, (res) => {
        res.resume();
        resolve(String(res.headers['x-meshwasm-registry'] ?? ''));
      });
      req.on('error', () => resolve(false));
      req.end();
    });
    if (answeredBy === instance) return;
    if (answeredBy !== false) throw new PortTaken(`another server answers on ${url}`);
    if (Date.now() > deadline) throw new Error(`docker-registry at ${url} did not answer within 20 s`);
    await new Promise((r) => setTimeout(r, 50));
  }
}
