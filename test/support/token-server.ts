import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { createServer as createTlsServer } from 'node:https';
import { createSign, randomUUID, X509Certificate } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { AddressInfo } from 'node:net';

export interface TokenServer {
  realm: string;
  service: string;
  issuer: string;
  /** the certificate whose key signs the tokens (the registry's rootcertbundle) */
  certFile: string;
  /** every request received: scope, and the user that authenticated (or 'anonymous') */
  requests: { scope: string; account: string }[];
  stop(): Promise<void>;
}

/**
 * A Docker token server (the "Bearer realm" flow of the distribution spec): anonymous callers get
 * pull access, authenticated users get what they ask for, wrong passwords get 401. Tokens are RS256
 * JWTs carrying the signing certificate in x5c, which distribution 2.8 checks against rootcertbundle.
 */
export async function startTokenServer(options: {
  users: Record<string, string>;
  /** OAuth2 refresh tokens ("identity tokens" in docker config) and the user each stands for */
  refreshTokens?: Record<string, string>;
  service: string;
  anonymousPull?: boolean;
  expiresIn?: number;
  /** serve over https with this certificate (a TLS registry's realm must be https) */
  tls?: { cert: string; key: string };
  /** how long each token request waits before it is answered (to make concurrent requests overlap) */
  delayMs?: number;
}): Promise<TokenServer> {
  const dir = mkdtempSync(join(tmpdir(), 'meshwasm-token-'));
  const keyFile = join(dir, 'token.key');
  const certFile = join(dir, 'token.crt');
  execFileSync(
    'openssl',
    [
      'req',
      '-x509',
      '-newkey',
      'rsa:2048',
      '-nodes',
      '-days',
      '2',
      '-subj',
      '/CN=meshwasm token issuer',
    ].concat(['-keyout', keyFile, '-out', certFile]),
    { stdio: 'pipe' },
  );
  const key = readFileSync(keyFile);
  const certDer = new X509Certificate(readFileSync(certFile)).raw.toString('base64');
  const issuer = 'meshwasm-test-issuer';
  const requests: TokenServer['requests'] = [];
  const anonymousPull = options.anonymousPull ?? true;

  const handler = async (req: IncomingMessage, res: ServerResponse) => {
    if (options.delayMs) await new Promise((r) => setTimeout(r, options.delayMs));
    const url = new URL(req.url ?? '/', 'http://localhost');
    let account = authenticate(req.headers.authorization, options.users);
    if (req.method === 'POST') {
      // The OAuth2 form of the token spec: grant_type=refresh_token with the identity token.
      let body = '';
      for await (const chunk of req) body += String(chunk);
      const form = new URLSearchParams(body);
      for (const scope of form.getAll('scope')) url.searchParams.append('scope', scope);
      const user =
        form.get('grant_type') === 'refresh_token'
          ? options.refreshTokens?.[form.get('refresh_token') ?? '']
          : undefined;
      account = user ?? null;
    }
    if (account === null) {
      res.writeHead(401, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ errors: [{ code: 'UNAUTHORIZED', message: 'bad credentials' }] }));
      return;
    }
    const scopes = url.searchParams
      .getAll('scope')
      .flatMap((s) => s.split(' '))
      .filter(Boolean);
    requests.push({ scope: scopes.join(' '), account });
    const access = scopes.map((scope) => {
      const [type = '', name = '', actions = ''] = scope.split(':');
      const wanted = actions.split(',').filter(Boolean);
      const granted =
        account === 'anonymous' ? (anonymousPull ? wanted.filter((a) => a === 'pull') : []) : wanted;
      return { type, name, actions: granted };
    });
    const now = Math.floor(Date.now() / 1000);
    const expiresIn = options.expiresIn ?? 300;
    const token = sign(
      { alg: 'RS256', typ: 'JWT', x5c: [certDer] },
      {
        iss: issuer,
        sub: account,
        aud: options.service,
        exp: now + expiresIn,
        nbf: now - 10,
        iat: now,
        jti: randomUUID(),
        access,
      },
      key,
    );
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(
      JSON.stringify({
        token,
        access_token: token,
        expires_in: expiresIn,
        issued_at: new Date().toISOString(),
      }),
    );
  };
  const server = options.tls
    ? createTlsServer({ cert: readFileSync(options.tls.cert), key: readFileSync(options.tls.key) }, handler)
    : createServer(handler);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    realm: `${options.tls ? 'https' : 'http'}://127.0.0.1:${port}/token`,
    service: options.service,
    issuer,
    certFile,
    requests,
    stop: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

function authenticate(header: string | undefined, users: Record<string, string>): string | null {
  if (!header) return 'anonymous';
  const [scheme, value = ''] = header.split(' ');
  if (scheme?.toLowerCase() !== 'basic') return null;
  const decoded = Buffer.from(value, 'base64').toString();
  const colon = decoded.indexOf(':');
  const user = decoded.slice(0, colon);
  return colon > 0 && users[user] === decoded.slice(colon + 1) ? user : null;
}

function sign(header: object, claims: object, key: Buffer): string {
  const encode = (o: object) => Buffer.from(JSON.stringify(o)).toString('base64url');
  const input = `${encode(header)}.${encode(claims)}`;
  const signature = createSign('RSA-SHA256').update(input).sign(key).toString('base64url');
  return `${input}.${signature}`;
}
