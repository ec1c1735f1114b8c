/**
 * Where the registry client refuses to be sent: redirects that downgrade to plain http or leave the
 * origin (the Authorization stays behind), Bearer realms on metadata, link-local or loopback addresses or
 * on plain http for an https registry; and one token fetch per scope however many cold requests need it.
 */
import { createServer as createHttpServer, type Server } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import { readFileSync, writeFileSync, mkdtempSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { OciSession, pushWasm } from '../../src/oci/index.js';
import { RegistryClient } from '../../src/oci/remote/client.js';
import { checkRealm, checkRedirect, realmAddressGuard } from '../../src/oci/remote/policy.js';
import { Transport } from '../../src/oci/remote/transport.js';
import { startRegistry, type TestRegistry } from '../support/registry.js';
import { makeTestPki, type TestPki } from '../support/tls.js';
import { moduleWithCustomSection } from '../support/wasm-fixtures.js';

const credentials = { get: async () => ({ username: 'u', password: 'secret-pw' }) };
const listen = async (server: Server) => {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return (server.address() as AddressInfo).port;
};
const close = (server: Server) => new Promise<void>((resolve) => server.close(() => resolve()));

describe('redirect policy', () => {
  const from = new URL('https://registry.example/v2/a/blobs/sha256:1');
  const follow = (to: string, plainHttp = false) =>
    checkRedirect('registry.example', from, new URL(to), { plainHttp });

  it('keeps the Authorization on the same scheme, host and port only', () => {
    expect(follow('https://registry.example:443/v2/other')).toEqual({ sendAuthorization: true });
    expect(follow('https://registry.example:8443/v2/other')).toEqual({ sendAuthorization: false });
    expect(follow('https://cdn.example/blob')).toEqual({ sendAuthorization: false });
    expect(
      checkRedirect('r', new URL('http://r/v2/'), new URL('https://r/v2/'), { plainHttp: true }),
    ).toEqual({ sendAuthorization: false });
  });

  it('refuses https -> http, even on the same host, unless --plain-http was given', () => {
    expect(() => follow('http://registry.example/v2/a/blobs/sha256:1')).toThrow(
      /refusing a redirect from https to plain http/,
    );
    expect(follow('http://registry.example/v2/a', true)).toEqual({ sendAuthorization: false });
    expect(() => follow('file:///etc/passwd')).toThrow(/refusing a redirect to file:/);
  });
});

describe('realm policy', () => {
  const https = new URL('https://registry.example');
  const realm = (r: string, base = https) => checkRealm(r, 'registry.example', base);

  it('accepts a realm elsewhere over https, and plain http realms of plain http registries', () => {
    expect(realm('https://auth.example/token').host).toBe('auth.example');
    expect(realm('http://127.0.0.1:5001/token', new URL('http://127.0.0.1:5000')).port).toBe('5001');
  });

  it.each([
    ['http://auth.example/token', /plain http while the registry is https/],
    ['https://169.254.169.254/latest/meta-data/iam/security-credentials/', /link-local or cloud metadata/],
    ['https://[fd00:ec2::254]/latest/api/token', /link-local or cloud metadata/],
    ['https://[fe80::1]/token', /link-local or cloud metadata/],
    ['https://100.100.100.200/latest/meta-data/', /link-local or cloud metadata/],
    ['https://metadata.google.internal/computeMetadata/v1/', /cloud metadata service/],
    ['https://127.0.0.1:10250/pods', /loopback while the registry is elsewhere/],
    ['https://localhost/token', /loopback while the registry is elsewhere/],
    ['ftp://auth.example/token', /only http and https/],
    ['not a url', /is not a URL/],
  ])('refuses %s', (r, message) => {
    expect(() => realm(r)).toThrow(message);
    try {
      realm(r);
    } catch (err) {
      expect((err as { code: string }).code).toBe('REGISTRY');
    }
  });

  it('checks resolved addresses too, IPv4-mapped IPv6 included', () => {
    const guard = realmAddressGuard(https);
    expect(guard('::ffff:169.254.169.254')).toMatch(/metadata/);
    expect(guard('127.0.0.1')).toMatch(/loopback/);
    expect(guard('10.1.2.3')).toBeUndefined();
    expect(realmAddressGuard(new URL('http://127.0.0.1:5000'))('127.0.0.1')).toBeUndefined();
  });
});

describe('against real servers', () => {
  let pki: TestPki;
  beforeAll(() => {
    pki = makeTestPki();
  });

  it('does not follow an https registry that redirects to plain http, and sends nothing there', async () => {
    const seen: (string | undefined)[] = [];
    const plain = createHttpServer((req, res) => {
      seen.push(req.headers.authorization);
      res.end('{}');
    });
    const plainPort = await listen(plain);
    const tls = createHttpsServer(
      { cert: readFileSync(pki.cert), key: readFileSync(pki.key) },
      (req, res) => {
        res.writeHead(307, { location: `http://127.0.0.1:${plainPort}${req.url}` });
        res.end();
      },
    );
    const tlsPort = await listen(tls);
    const transport = new Transport({ caFile: pki.caCert, maxAttempts: 1 });
    try {
      const client = new RegistryClient(`127.0.0.1:${tlsPort}`, transport, credentials);
      await expect(
        client.send({ method: 'GET', path: '/v2/a/manifests/v1', scopes: [] }),
      ).rejects.toMatchObject({
        code: 'REGISTRY',
        message: expect.stringContaining('refusing a redirect from https to plain http'),
        hint: expect.stringContaining('--plain-http'),
      });
      expect(seen).toEqual([]);
    } finally {
      await transport.close();
      await close(tls);
      await close(plain);
    }
  });

  it('refuses a Bearer realm on the cloud metadata address before asking it anything', async () => {
    const tls = createHttpsServer(
      { cert: readFileSync(pki.cert), key: readFileSync(pki.key) },
      (_req, res) => {
        res.writeHead(401, {
          'www-authenticate': 'Bearer realm="http://169.254.169.254/latest/meta-data/",service="x"',
        });
        res.end();
      },
    );
    const port = await listen(tls);
    const transport = new Transport({ caFile: pki.caCert, maxAttempts: 1 });
    try {
      // Over https the plain-http realm is refused first; over plain http, the address.
      const client = new RegistryClient(`127.0.0.1:${port}`, transport, credentials);
      await expect(client.send({ method: 'GET', path: '/v2/', scopes: [] })).rejects.toMatchObject({
        code: 'REGISTRY',
        message: expect.stringMatching(/refusing the Bearer realm http:\/\/169\.254\.169\.254/),
      });
    } finally {
      await transport.close();
      await close(tls);
    }
  });

  it('fails before connecting when a name resolves to a refused address', async () => {
    let requests = 0;
    const server = createHttpServer((_req, res) => {
      requests++;
      res.end();
    });
    const port = await listen(server);
    const transport = new Transport({ maxAttempts: 1 });
    try {
      await expect(
        transport.send({
          method: 'GET',
          url: `http://localhost:${port}/token`,
          refuseAddress: (a) => (a === '127.0.0.1' || a === '::1' ? 'a test address' : undefined),
        }),
      ).rejects.toMatchObject({
        code: 'REGISTRY',
        message: expect.stringMatching(
          /refusing to connect to localhost:\d+: it resolves to .*a test address/,
        ),
      });
      expect(requests).toBe(0);
    } finally {
      await transport.close();
      await close(server);
    }
  });
});

describe('token fetches', () => {
  let registry: TestRegistry;
  const work = mkdtempSync(join(tmpdir(), 'meshwasm-auth-policy-'));
  beforeAll(async () => {
    registry = await startRegistry({ auth: 'token', tokenDelayMs: 150 });
    const file = join(work, 'filter.wasm');
    writeFileSync(file, moduleWithCustomSection(512, 'sf'));
    const pusher = new OciSession({
      plainHttp: true,
      credentials: { get: async () => ({ username: registry.username, password: registry.password }) },
    });
    const { target } = await pusher.open(`${registry.host}/team/sf:v1`);
    await pushWasm(target, 'v1', file);
    await pusher.close();
  });
  afterAll(async () => registry?.destroy());

  it('fetches one token per scope for many concurrent cold requests', async () => {
    const session = new OciSession({ plainHttp: true, registryConfig: join(work, 'none.json') });
    const before = registry.tokenServer!.requests.length;
    try {
      const { target } = await session.open(`${registry.host}/team/sf:v1`);
      const results = await Promise.all(Array.from({ length: 8 }, () => target.resolve('v1')));
      expect(new Set(results.map((r) => r.digest)).size).toBe(1);
    } finally {
      await session.close();
    }
    const fetched = registry.tokenServer!.requests.slice(before);
    expect(fetched).toEqual([{ scope: 'repository:team/sf:pull', account: 'anonymous' }]);
  });
});
