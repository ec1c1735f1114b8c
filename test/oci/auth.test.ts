import { execFile } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DockerConfig, OciSession, pullWasmToFile, pushWasm } from '../../src/oci/index.js';
import { startRegistry, type TestRegistry } from '../support/registry.js';
import { moduleWithCustomSection } from '../support/wasm-fixtures.js';

const work = mkdtempSync(join(tmpdir(), 'meshwasm-auth-test-'));
const modulePath = join(work, 'filter.wasm');
writeFileSync(modulePath, moduleWithCustomSection(2048, 'auth'));
const BIN = new URL('../../bin/meshwasm.js', import.meta.url).pathname;

function run(args: string[], options: { input?: string; env?: Record<string, string> } = {}) {
  return new Promise<{ code: number; stdout: string; stderr: string }>((resolve) => {
    const child = execFile(
      process.execPath,
      [BIN, ...args],
      { env: { ...process.env, ...options.env } },
      (err, stdout, stderr) =>
        resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr }),
    );
    child.stdin?.end(options.input ?? '');
  });
}

describe('Bearer token flow (distribution token server)', () => {
  let registry: TestRegistry;
  beforeAll(async () => {
    registry = await startRegistry({ auth: 'token' });
  });
  afterAll(async () => registry.destroy());

  it('pushes with credentials, caches one token per scope, and pulls anonymously', async () => {
    const config = join(work, 'token-config.json');
    writeFileSync(
      config,
      JSON.stringify({
        auths: {
          [registry.host]: {
            auth: Buffer.from(`${registry.username}:${registry.password}`).toString('base64'),
          },
        },
      }),
    );
    const session = new OciSession({ plainHttp: true, registryConfig: config });
    const { target, selector } = await session.open(`${registry.host}/team/filter:v1`);
    await pushWasm(target, selector, modulePath);
    await pushWasm(target, 'v2', modulePath);
    await session.close();
    const pushTokens = registry.tokenServer!.requests.filter((r) => r.scope.includes('push'));
    expect(pushTokens.every((r) => r.account === registry.username)).toBe(true);
    // Two pushes of several requests each, yet only the first 401 of each scope fetched a token.
    expect(pushTokens.length).toBe(1);

    const anonymous = new OciSession({ plainHttp: true, registryConfig: join(work, 'missing.json') });
    const opened = await anonymous.open(`${registry.host}/team/filter:v2`);
    const out = join(work, 'anon.wasm');
    await pullWasmToFile(opened.target, opened.selector, out);
    await anonymous.close();
    expect(readFileSync(out).equals(readFileSync(modulePath))).toBe(true);
    expect(registry.tokenServer!.requests.at(-1)).toMatchObject({
      account: 'anonymous',
      scope: 'repository:team/filter:pull',
    });
  });

  it('exchanges a docker config identity token for access tokens (OAuth2 refresh grant)', async () => {
    const config = join(work, 'identity-config.json');
    writeFileSync(
      config,
      JSON.stringify({ auths: { [registry.host]: { identitytoken: `refresh-${registry.password}` } } }),
    );
    const session = new OciSession({ plainHttp: true, registryConfig: config });
    const { target, selector } = await session.open(`${registry.host}/team/identity:v1`);
    await pushWasm(target, selector, modulePath);
    await session.close();
    expect(registry.tokenServer!.requests.at(-1)).toMatchObject({
      account: registry.username,
      scope: 'repository:team/identity:pull,push',
    });
  });

  it('refuses an anonymous push and a wrong password with errors that say what to do', async () => {
    const anonymous = new OciSession({ plainHttp: true, registryConfig: join(work, 'missing.json') });
    const { target, selector } = await anonymous.open(`${registry.host}/team/other:v1`);
    await expect(pushWasm(target, selector, modulePath)).rejects.toMatchObject({
      code: 'UNAUTHORIZED',
      hint: expect.stringContaining('meshwasm login'),
    });
    await anonymous.close();

    const wrong = new OciSession({
      plainHttp: true,
      credentials: { get: async () => ({ username: registry.username, password: 'nope' }) },
    });
    const opened = await wrong.open(`${registry.host}/team/other:v1`);
    await expect(pushWasm(opened.target, opened.selector, modulePath)).rejects.toMatchObject({
      code: 'UNAUTHORIZED',
    });
    await wrong.close();
  });
});

describe('login, logout and credential helpers (htpasswd over TLS)', () => {
  let registry: TestRegistry;
  beforeAll(async () => {
    registry = await startRegistry({ auth: 'basic', tls: true });
  });
  afterAll(async () => registry.destroy());

  it('login checks the password before storing it (0600), pull uses it, logout removes it', async () => {
    const config = join(work, 'login', 'config.json');
    const tls = ['--ca-file', registry.caFile!, '--registry-config', config];

    const bad = await run(['login', registry.host, '-u', registry.username, '--password-stdin', ...tls], {
      input: 'wrong\n',
    });
    expect(bad.code).toBe(4);
    expect(bad.stderr).toContain('rejected the credentials');
    expect(existsSync(config)).toBe(false);

    const good = await run(['login', registry.host, '-u', registry.username, '--password-stdin', ...tls], {
      input: `${registry.password}\n`,
    });
    expect(good.stderr).toBe('');
    expect(good.stdout).toContain('Login Succeeded');
    expect(statSync(config).mode & 0o777).toBe(0o600);
    const stored = JSON.parse(readFileSync(config, 'utf8'));
    expect(Buffer.from(stored.auths[registry.host].auth, 'base64').toString()).toBe(
      `${registry.username}:${registry.password}`,
    );
    expect(good.stdout + good.stderr).not.toContain(registry.password);

    const pushed = await run([
      'push',
      `${registry.host}/login/filter:v1`,
      modulePath,
      '--output',
      'json',
      ...tls,
    ]);
    expect(pushed.code).toBe(0);
    const out = join(work, 'login.wasm');
    const pulled = await run([
      'pull',
      `${registry.host}/login/filter:v1`,
      '-o',
      out,
      '--output',
      'json',
      ...tls,
    ]);
    expect(JSON.parse(pulled.stdout)).toMatchObject({
      format: 'artifact',
      digest: JSON.parse(pushed.stdout).digest,
    });

    const untrusted = await run([
      'pull',
      `${registry.host}/login/filter:v1`,
      '-o',
      join(work, 'x.wasm'),
      '--registry-config',
      config,
    ]);
    expect(untrusted.code).toBe(1);
    expect(untrusted.stderr).toMatch(/--ca-file/);

    const out2 = await run(['logout', registry.host, '--registry-config', config]);
    expect(out2.stdout).toContain('Removed');
    expect(JSON.parse(readFileSync(config, 'utf8')).auths).toEqual({});
    const denied = await run([
      'pull',
      `${registry.host}/login/filter:v1`,
      '-o',
      join(work, 'y.wasm'),
      ...tls,
    ]);
    expect(denied.code).toBe(4);
    expect(existsSync(join(work, 'y.wasm'))).toBe(false);
  });

  it('reads credentials from a docker-credential helper, and falls back with a warning when one is missing', async () => {
    const bin = join(work, 'bin');
    const helper = join(bin, 'docker-credential-meshtest');
    await promisify(execFile)('mkdir', ['-p', bin]);
    writeFileSync(
      helper,
      `#!/bin/sh\nread server\nif [ "$1" = get ] && [ "$server" = "${registry.host}" ]; then\n  printf '{"ServerURL":"%s","Username":"${registry.username}","Secret":"${registry.password}"}' "$server"\nelse\n  echo "credentials not found in native keychain"; exit 1\nfi\n`,
    );
    chmodSync(helper, 0o755);
    const env = { PATH: `${bin}:${process.env.PATH}` };
    const viaHelper = join(work, 'helper-config.json');
    writeFileSync(viaHelper, JSON.stringify({ credHelpers: { [registry.host]: 'meshtest' } }));
    const pushed = await run(
      [
        'push',
        `${registry.host}/helper/filter:v1`,
        modulePath,
        '--ca-file',
        registry.caFile!,
        '--registry-config',
        viaHelper,
      ],
      { env },
    );
    expect(pushed.stderr).toBe('');
    expect(pushed.code).toBe(0);

    const missing = join(work, 'missing-helper.json');
    writeFileSync(
      missing,
      JSON.stringify({
        credsStore: 'absent',
        auths: { [registry.host]: { username: registry.username, password: registry.password } },
      }),
    );
    const fellBack = await run(
      [
        'pull',
        `${registry.host}/helper/filter:v1`,
        '-o',
        join(work, 'h.wasm'),
        '--ca-file',
        registry.caFile!,
        '--registry-config',
        missing,
      ],
      { env },
    );
    expect(fellBack.code).toBe(0);
    expect(fellBack.stderr).toMatch(
      /Warning: credential helper docker-credential-absent failed.*not on PATH/,
    );
  });
});

describe('DockerConfig', () => {
  it('reads every auths form and normalises registry keys', async () => {
    const config = DockerConfig.fromJson(
      JSON.stringify({
        auths: {
          'https://index.docker.io/v1/': { auth: Buffer.from('hub:pw').toString('base64') },
          'https://reg.example.com/v2/': { username: 'u', password: 'p' },
          'tok.example.com': { identitytoken: 'refresh-me' },
        },
      }),
    );
    expect(await config.get('docker.io')).toEqual({ username: 'hub', password: 'pw' });
    expect(await config.get('reg.example.com')).toEqual({ username: 'u', password: 'p' });
    expect(await config.get('tok.example.com')).toEqual({ identityToken: 'refresh-me', username: undefined });
    expect(await config.get('other.example.com')).toBeUndefined();
  });

  it('explains a malformed config', () => {
    expect(() => DockerConfig.fromJson('{"auths": 3}')).toThrow(
      /not a valid Docker config: "auths" is not an object/,
    );
    expect(() => DockerConfig.fromJson('nope')).toThrow(/not a valid Docker config/);
  });
});
