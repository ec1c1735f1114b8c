/**
 * Where the Kubernetes connection comes from: an explicit file, else KUBECONFIG, ~/.kube/config or
 * in-cluster (the order client-node's loadFromDefault uses).
 *
 * The common cases are read here: a pod's service account (token re-read as the kubelet rotates it),
 * and kubeconfig files whose users hold a token, a token file, a client certificate or a user name and
 * password. @kubernetes/client-node, which costs ~0.5 s and ~60 MB to load (bench/cli.ts), is loaded only
 * for what this file does not handle (exec plugins, auth providers, proxies, merged KUBECONFIG lists):
 * its KubeConfig then serves the same interface.
 */
import { readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, isAbsolute, join } from 'node:path';
import type { RequestOptions } from 'node:https';
import { parse } from 'yaml';
import { MeshwasmError } from '../errors.js';

/** What KubeClient needs from a kubeconfig; client-node's KubeConfig has the same shape. */
export interface KubeConnection {
  getCurrentCluster(): { name: string; server: string; skipTLSVerify?: boolean } | null;
  /** Sets CA, client certificate, TLS verification and the Authorization header on `opts`. */
  applyToHTTPSOptions(opts: RequestOptions): Promise<void>;
}

const SERVICE_ACCOUNT_DIR = '/var/run/secrets/kubernetes.io/serviceaccount';
/** Bound service account tokens rotate; the kubelet rewrites the file well before expiry. */
const TOKEN_FILE_TTL_MS = 60_000;

interface Cluster {
  name: string;
  server: string;
  skipTLSVerify?: boolean;
  ca?: string | Buffer;
  tlsServerName?: string;
}

interface User {
  token?: string;
  tokenFile?: string;
  cert?: Buffer;
  key?: Buffer;
  username?: string;
  password?: string;
}

class LightKubeConfig implements KubeConnection {
  private token: { value: string; readAt: number } | undefined;

  constructor(
    private readonly cluster: Cluster,
    private readonly user: User,
  ) {}

  getCurrentCluster(): Cluster {
    return this.cluster;
  }

  applyToHTTPSOptions(opts: RequestOptions): Promise<void> {
    if (this.cluster.ca) opts.ca = this.cluster.ca;
    if (this.cluster.skipTLSVerify) opts.rejectUnauthorized = false;
    if (this.cluster.tlsServerName) opts.servername = this.cluster.tlsServerName;
    if (this.user.cert) opts.cert = this.user.cert;
    if (this.user.key) opts.key = this.user.key;
    const headers = (opts.headers ??= {}) as Record<string, string>;
    const token = this.currentToken();
    if (token) headers.Authorization = `Bearer ${token}`;
    else if (this.user.username !== undefined && this.user.password !== undefined)
      opts.auth = `${this.user.username}:${this.user.password}`;
    return Promise.resolve();
  }

  private currentToken(): string | undefined {
    if (this.user.token) return this.user.token;
    if (!this.user.tokenFile) return undefined;
    const now = Date.now();
    if (!this.token || now - this.token.readAt > TOKEN_FILE_TTL_MS) {
      try {
        this.token = { value: readFileSync(this.user.tokenFile, 'utf8').trim(), readAt: now };
      } catch {
        // A transient read failure keeps the last token; without one the request goes unauthenticated
        // and the API server's 401 says what is wrong.
        if (!this.token) return undefined;
      }
    }
    return this.token?.value;
  }
}

export function loadKubeConfig(path?: string, context?: string): KubeConnection {
  const fail = (err: unknown, where?: string): never => {
    if (err instanceof MeshwasmError) throw err;
    throw new MeshwasmError(
      'CONFIG',
      `cannot load the kubeconfig${where ? ` ${where}` : ''}: ${(err as Error).message}`,
      {
        hint: 'set KUBECONFIG or pass --kubeconfig <file>; in a pod, mount a service account token',
        cause: err,
      },
    );
  };
  const file = path ?? defaultKubeconfigFile();
  if (file === undefined) {
    try {
      return inClusterConfig();
    } catch (err) {
      return fail(err);
    }
  }
  // Several files in KUBECONFIG are merged by client-node's rules; that rare case is left to it.
  if (path === undefined && file.includes(':')) return clientNodeConfig(file, context);
  let doc: unknown;
  try {
    doc = parse(readFileSync(file, 'utf8'));
  } catch (err) {
    return fail(err, file);
  }
  try {
    const light = fromDocument(doc, dirname(file), context);
    if (light) return light;
  } catch (err) {
    return fail(err, file);
  }
  return clientNodeConfig(file, context);
}

/** KUBECONFIG (one file), else ~/.kube/config if it exists, else undefined (in-cluster). */
function defaultKubeconfigFile(): string | undefined {
  const env = process.env.KUBECONFIG;
  if (env) return env;
  const home = join(homedir(), '.kube', 'config');
  try {
    readFileSync(home);
    return home;
  } catch {
    return undefined;
  }
}

function inClusterConfig(): KubeConnection {
  const host = process.env.KUBERNETES_SERVICE_HOST;
  const port = process.env.KUBERNETES_SERVICE_PORT;
  if (!host || !port)
    throw new MeshwasmError('CONFIG', 'no kubeconfig found and not running in a cluster', {
      hint: 'set KUBECONFIG or pass --kubeconfig <file>; in a pod, mount a service account token',
    });
  const tokenFile = join(SERVICE_ACCOUNT_DIR, 'token');
  let ca: Buffer;
  try {
    readFileSync(tokenFile);
    ca = readFileSync(join(SERVICE_ACCOUNT_DIR, 'ca.crt'));
  } catch (err) {
    throw new MeshwasmError('CONFIG', `cannot read the service account in ${SERVICE_ACCOUNT_DIR}`, {
      hint: 'mount a service account token (automountServiceAccountToken), or pass --kubeconfig <file>',
      cause: err,
    });
  }
  const server = `https://${host.includes(':') ? `[${host}]` : host}:${port}`;
  return new LightKubeConfig({ name: 'inCluster', server, ca }, { tokenFile });
}

type Doc = Record<string, unknown>;
const isDoc = (v: unknown): v is Doc => typeof v === 'object' && v !== null && !Array.isArray(v);

/** Our reading of a kubeconfig document, or undefined when it needs what only client-node does. */
function fromDocument(doc: unknown, base: string, context?: string): KubeConnection | undefined {
  if (!isDoc(doc)) throw new Error('the file is not a kubeconfig (no YAML mapping)');
  const named = (list: unknown, name: string, field: string): Doc | undefined => {
    if (!Array.isArray(list)) return undefined;
    const entry = (list as unknown[]).find((e) => isDoc(e) && e.name === name) as Doc | undefined;
    return entry && isDoc(entry[field]) ? (entry[field] as Doc) : undefined;
  };
  const contextName = context ?? (doc['current-context'] as string | undefined);
  if (!contextName) throw new Error('it sets no current-context');
  const ctx = named(doc.contexts, contextName, 'context');
  if (!ctx) throw new Error(`it has no context named ${contextName}`);
  const clusterName = String(ctx.cluster ?? '');
  const c = named(doc.clusters, clusterName, 'cluster');
  if (!c || typeof c.server !== 'string') throw new Error('the kubeconfig has no current cluster');
  const u = ctx.user === undefined ? {} : (named(doc.users, String(ctx.user), 'user') ?? {});
  const light = new Set(['token', 'tokenFile', 'client-certificate', 'client-certificate-data']);
  for (const key of ['client-key', 'client-key-data', 'username', 'password']) light.add(key);
  if (Object.keys(u).some((k) => !light.has(k)) || c['proxy-url'] !== undefined) return undefined;

  const path = (p: unknown) => (isAbsolute(String(p)) ? String(p) : join(base, String(p)));
  const data = (inline: unknown, file: unknown): Buffer | undefined =>
    inline !== undefined
      ? Buffer.from(String(inline), 'base64')
      : file !== undefined
        ? readFileSync(path(file))
        : undefined;
  return new LightKubeConfig(
    {
      name: clusterName,
      server: c.server,
      skipTLSVerify: c['insecure-skip-tls-verify'] === true,
      ca: data(c['certificate-authority-data'], c['certificate-authority']),
      tlsServerName: typeof c['tls-server-name'] === 'string' ? c['tls-server-name'] : undefined,
    },
    {
      token: typeof u.token === 'string' ? u.token : undefined,
      tokenFile: u.tokenFile !== undefined ? path(u.tokenFile) : undefined,
      cert: data(u['client-certificate-data'], u['client-certificate']),
      key: data(u['client-key-data'], u['client-key']),
      username: typeof u.username === 'string' ? u.username : undefined,
      password: typeof u.password === 'string' ? u.password : undefined,
    },
  );
}

/**
 * client-node's KubeConfig, loaded on first use, for exec plugins, auth providers and merged files.
 * Loaded synchronously through a deferred connection, so callers keep one synchronous loadKubeConfig.
 */
function clientNodeConfig(file: string, context?: string): KubeConnection {
  type ClientNode = typeof import('@kubernetes/client-node');
  let loaded: Promise<KubeConnection> | undefined;
  const merged = file.includes(':') && file === process.env.KUBECONFIG;
  const load = () =>
    (loaded ??= (import('@kubernetes/client-node') as Promise<ClientNode>).then(({ KubeConfig }) => {
      const kc = new KubeConfig();
      if (merged) kc.loadFromDefault();
      else kc.loadFromFile(file);
      if (context) kc.setCurrentContext(context);
      return kc;
    }));
  // The cluster entry is read here already (plain YAML), so getCurrentCluster stays synchronous.
  const cluster = currentClusterOf(file, context);
  return {
    getCurrentCluster: () => cluster,
    applyToHTTPSOptions: async (opts) => (await load()).applyToHTTPSOptions(opts),
  };
}

function currentClusterOf(file: string, context?: string): Cluster {
  const first = file.split(':')[0]!;
  const doc = parse(readFileSync(first, 'utf8')) as Doc;
  const contextName = context ?? (doc['current-context'] as string | undefined);
  const ctx = (doc.contexts as Doc[] | undefined)?.find((e) => e.name === contextName)?.context as
    Doc | undefined;
  const c = (doc.clusters as Doc[] | undefined)?.find((e) => e.name === ctx?.cluster)?.cluster as
    Doc | undefined;
  if (!c || typeof c.server !== 'string')
    throw new MeshwasmError('CONFIG', 'the kubeconfig has no current cluster', {
      hint: 'set current-context in the kubeconfig or pass --kubeconfig <file>',
    });
  return {
    name: String(ctx?.cluster),
    server: c.server,
    skipTLSVerify: c['insecure-skip-tls-verify'] === true,
  };
}
