import { MeshwasmError } from '../../errors.js';
import type { Credential, CredentialSource } from '../credentials.js';
import { registryEndpoint } from '../reference.js';
import { readAll } from '../streams.js';
import { SingleFlight } from '../../single-flight.js';
import { parseChallenge, type Challenge } from './challenge.js';
import { checkRealm, checkRedirect, realmAddressGuard } from './policy.js';
import type { AddressGuard, HttpRequest, HttpResponse, Transport } from './transport.js';

export const MAX_AUTH_RESPONSE_BYTES = 128 * 1024;
const MAX_REDIRECTS = 5;

interface CachedToken {
  token: string;
  expiresAt: number;
}

export interface RegistryRequest extends Omit<HttpRequest, 'url'> {
  /** path under the registry root (`/v2/...`) or an absolute URL (upload locations) */
  path: string;
  /** token scopes this request needs, e.g. ["repository:asm/filter:pull"] */
  scopes: string[];
}

/**
 * Talks to one registry: attaches credentials, answers Basic and Bearer challenges, keeps a token cache
 * per scope (concurrent requests that need a token of one scope share one fetch), and follows redirects
 * without ever sending the registry's Authorization to another origin (policy.ts says what is refused).
 */
export class RegistryClient {
  readonly registry: string;
  readonly baseUrl: string;
  private readonly transport: Transport;
  private readonly credentials: CredentialSource;
  private readonly tokens = new Map<string, CachedToken>();
  private readonly tokenFetches = new SingleFlight<string, string>();
  /** One guard for every token request, so they share the transport's pooled connections. */
  private realmGuardFn: AddressGuard | undefined;
  private scheme: 'none' | 'basic' | 'bearer' = 'none';
  private bearerChallenge: Challenge | undefined;
  private credential: Promise<Credential | undefined> | undefined;

  constructor(registry: string, transport: Transport, credentials: CredentialSource) {
    this.registry = registry;
    this.transport = transport;
    this.credentials = credentials;
    this.baseUrl = `${transport.scheme(registry)}://${registryEndpoint(registry)}`;
  }

  private getCredential(): Promise<Credential | undefined> {
    this.credential ??= this.credentials.get(this.registry);
    return this.credential;
  }

  /** Forget cached tokens and credentials (a rotated secret is picked up at the next request). */
  reset(): void {
    this.tokens.clear();
    this.credential = undefined;
  }

  async send(req: RegistryRequest): Promise<HttpResponse> {
    const url = req.path.startsWith('http') ? req.path : `${this.baseUrl}${req.path}`;
    let authorization = await this.cachedAuthorization(req.scopes);
    let res = await this.sendFollowingRedirects(req, url, authorization);
    for (let round = 0; res.status === 401 && round < 2; round++) {
      const challenge = parseChallenge(res.headers['www-authenticate']);
      res.body.resume();
      const next = await this.answer(challenge, req.scopes, authorization);
      if (next === undefined) break;
      authorization = next;
      res = await this.sendFollowingRedirects(req, url, authorization);
    }
    if (res.status === 401) {
      res.body.resume();
      const credential = await this.getCredential();
      throw new MeshwasmError(
        'UNAUTHORIZED',
        credential
          ? `${this.registry} rejected the credentials for ${req.scopes.join(' ') || 'this request'}`
          : `${this.registry} requires authentication`,
        {
          hint: `run \`meshwasm login ${this.registry}\` (or pass --registry-config with valid credentials)`,
        },
      );
    }
    return res;
  }

  private async sendFollowingRedirects(
    req: RegistryRequest,
    url: string,
    authorization: string | undefined,
  ): Promise<HttpResponse> {
    const origin = new URL(url);
    let current = origin;
    let sendAuthorization = true;
    for (let hop = 0; ; hop++) {
      const headers: Record<string, string> = { ...(req.headers ?? {}) };
      if (authorization && sendAuthorization) headers.authorization = authorization;
      const res = await this.transport.send({
        method: req.method,
        url: current.toString(),
        headers,
        body: req.body,
      });
      const location = res.headers.location;
      const redirect =
        [301, 302, 303, 307, 308].includes(res.status) &&
        location &&
        (req.method === 'GET' || req.method === 'HEAD');
      if (!redirect) return res;
      res.body.resume();
      if (hop >= MAX_REDIRECTS)
        throw new MeshwasmError('REGISTRY', `${this.registry}: too many redirects for ${url}`);
      const next = new URL(location, current);
      ({ sendAuthorization } = checkRedirect(this.registry, origin, next, {
        plainHttp: this.transport.isPlainHttp(this.registry),
      }));
      current = next;
    }
  }

  private async cachedAuthorization(scopes: string[]): Promise<string | undefined> {
    if (this.scheme === 'basic') return basicHeader(await this.getCredential());
    if (this.scheme === 'bearer') {
      const cached = this.tokens.get(scopeKey(scopes));
      if (cached && cached.expiresAt > Date.now() + 5000) return `Bearer ${cached.token}`;
      if (this.bearerChallenge) return `Bearer ${await this.fetchToken(this.bearerChallenge, scopes)}`;
    }
    return undefined;
  }

  /** Works out the Authorization for a 401; undefined if there is nothing new to try. */
  private async answer(
    challenge: Challenge | undefined,
    scopes: string[],
    tried: string | undefined,
  ): Promise<string | undefined> {
    if (challenge?.scheme === 'bearer') {
      this.scheme = 'bearer';
      this.bearerChallenge = challenge;
      const wanted = [
        ...new Set([...scopes, ...(challenge.params.scope ? challenge.params.scope.split(' ') : [])]),
      ];
      // Another request of this scope may have fetched a token meanwhile: try that before a new one.
      const cached = this.tokens.get(scopeKey(scopes));
      if (cached && cached.expiresAt > Date.now() + 5000 && `Bearer ${cached.token}` !== tried)
        return `Bearer ${cached.token}`;
      this.tokens.delete(scopeKey(scopes));
      const header = `Bearer ${await this.fetchToken(challenge, wanted, scopes)}`;
      return header === tried ? undefined : header;
    }
    if (challenge?.scheme === 'basic') {
      this.scheme = 'basic';
      const header = basicHeader(await this.getCredential());
      return header === tried ? undefined : header;
    }
    return undefined;
  }

  private realmGuard(): AddressGuard {
    return (this.realmGuardFn ??= realmAddressGuard(new URL(this.baseUrl)));
  }

  /** One token fetch per realm, service and scope at a time; the others wait for it. */
  private fetchToken(challenge: Challenge, scopes: string[], cacheAs: string[] = scopes): Promise<string> {
    const key = [challenge.params.realm, challenge.params.service, scopeKey(scopes), scopeKey(cacheAs)].join(
      '\n',
    );
    return this.tokenFetches.run(key, () => this.requestToken(challenge, scopes, cacheAs));
  }

  /** The token endpoint of the distribution "token authentication" spec (GET, or POST for refresh tokens). */
  private async requestToken(challenge: Challenge, scopes: string[], cacheAs: string[]): Promise<string> {
    const realm = challenge.params.realm;
    if (!realm) throw new MeshwasmError('REGISTRY', `${this.registry}: Bearer challenge without a realm`);
    const base = new URL(this.baseUrl);
    const url = checkRealm(realm, this.registry, base);
    const refuseAddress = this.realmGuard();
    const credential = await this.getCredential();
    const service = challenge.params.service;
    let res: HttpResponse;
    if (credential?.identityToken) {
      const form = new URLSearchParams({
        grant_type: 'refresh_token',
        refresh_token: credential.identityToken,
        client_id: 'meshwasm',
      });
      if (service) form.set('service', service);
      if (scopes.length) form.set('scope', scopes.join(' '));
      res = await this.transport.send({
        method: 'POST',
        url: url.toString(),
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: form.toString(),
        refuseAddress,
      });
    } else {
      if (service) url.searchParams.set('service', service);
      for (const scope of scopes) url.searchParams.append('scope', scope);
      const headers: Record<string, string> = {};
      const basic = basicHeader(credential);
      if (basic) headers.authorization = basic;
      res = await this.transport.send({ method: 'GET', url: url.toString(), headers, refuseAddress });
    }
    const body = await readAll(res.body, MAX_AUTH_RESPONSE_BYTES, `token response from ${url.host}`);
    if (res.status === 401 || res.status === 403) {
      throw new MeshwasmError(
        'UNAUTHORIZED',
        `${url.host} refused to issue a token for ${this.registry} (${res.status})`,
        {
          hint: `check the user name and password: \`meshwasm login ${this.registry}\``,
        },
      );
    }
    if (res.status !== 200)
      throw new MeshwasmError('REGISTRY', `token endpoint ${url.host} answered ${res.status}`);
    let parsed: { token?: string; access_token?: string; expires_in?: number };
    try {
      parsed = JSON.parse(body.toString('utf8')) as typeof parsed;
    } catch {
      throw new MeshwasmError('REGISTRY', `token endpoint ${url.host} returned something that is not JSON`);
    }
    const token = parsed.token ?? parsed.access_token;
    if (!token) throw new MeshwasmError('REGISTRY', `token endpoint ${url.host} returned no token`);
    const lifetime = typeof parsed.expires_in === 'number' && parsed.expires_in > 0 ? parsed.expires_in : 60;
    this.tokens.set(scopeKey(cacheAs), { token, expiresAt: Date.now() + lifetime * 1000 });
    return token;
  }
}

function scopeKey(scopes: string[]): string {
  return [...scopes].sort().join(' ');
}

function basicHeader(credential: Credential | undefined): string | undefined {
  if (!credential || credential.username === undefined || credential.password === undefined) return undefined;
  return `Basic ${Buffer.from(`${credential.username}:${credential.password}`).toString('base64')}`;
}
