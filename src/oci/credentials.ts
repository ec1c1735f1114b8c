import { mkdir, readFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';
import { MeshwasmError } from '../errors.js';
import { ioError, isNodeError, writeSmallFileAtomic } from './files.js';
import { DOCKER_HUB } from './reference.js';

/** What a registry login yields: a user and password, or an OAuth2 refresh ("identity") token. */
export interface Credential {
  username?: string;
  password?: string;
  identityToken?: string;
}

export interface CredentialSource {
  get(registry: string): Promise<Credential | undefined>;
}

interface DockerConfigFile {
  auths?: Record<string, { auth?: string; username?: string; password?: string; identitytoken?: string }>;
  credHelpers?: Record<string, string>;
  credsStore?: string;
  [other: string]: unknown;
}

/** Docker Hub is stored under its legacy index URL, as docker and ORAS do. */
const DOCKER_HUB_KEY = 'https://index.docker.io/v1/';

/** The config.json docker and ORAS use: --registry-config, else $DOCKER_CONFIG/config.json, else ~/.docker/config.json. */
export function defaultDockerConfigPath(explicit?: string): string {
  if (explicit) return explicit;
  if (process.env.DOCKER_CONFIG) return join(process.env.DOCKER_CONFIG, 'config.json');
  return join(homedir(), '.docker', 'config.json');
}

function normalizeKey(key: string): string {
  const stripped = key.replace(/^[a-z]+:\/\//i, '').replace(/\/.*$/, '');
  return stripped === 'index.docker.io' || stripped === 'registry-1.docker.io' ? DOCKER_HUB : stripped;
}

function storageKey(registry: string): string {
  return registry === DOCKER_HUB ? DOCKER_HUB_KEY : registry;
}

export type Warn = (message: string) => void;

/**
 * Docker's config.json as a credential store: `auths` entries (auth, username/password,
 * identitytoken), `credHelpers` per registry and `credsStore` for all, through
 * `docker-credential-<name>` executables. A helper that is missing is a warning, then `auths` is used.
 */
export class DockerConfig implements CredentialSource {
  readonly path: string | undefined;
  private config: DockerConfigFile;
  private readonly warn: Warn;

  private constructor(path: string | undefined, config: DockerConfigFile, warn: Warn) {
    this.path = path;
    this.config = config;
    this.warn = warn;
  }

  static async load(path: string, warn: Warn = () => undefined): Promise<DockerConfig> {
    let text: string;
    try {
      text = await readFile(path, 'utf8');
    } catch (err) {
      if (isNodeError(err) && err.code === 'ENOENT') return new DockerConfig(path, {}, warn);
      throw ioError(err, `cannot read registry config ${path}`);
    }
    return new DockerConfig(path, parseConfig(text, path), warn);
  }

  /** From the text of a kubernetes.io/dockerconfigjson Secret (`.dockerconfigjson`); helpers are ignored. */
  static fromJson(text: string, where = '.dockerconfigjson'): DockerConfig {
    const config = parseConfig(text, where);
    return new DockerConfig(undefined, { auths: config.auths ?? {} }, () => undefined);
  }

  static empty(): DockerConfig {
    return new DockerConfig(undefined, {}, () => undefined);
  }

  private helperFor(registry: string): string | undefined {
    for (const [key, helper] of Object.entries(this.config.credHelpers ?? {})) {
      if (normalizeKey(key) === registry) return helper;
    }
    return this.config.credsStore || undefined;
  }

  private authEntry(registry: string): [string, NonNullable<DockerConfigFile['auths']>[string]] | undefined {
    for (const [key, entry] of Object.entries(this.config.auths ?? {})) {
      if (normalizeKey(key) === registry) return [key, entry];
    }
    return undefined;
  }

  async get(registry: string): Promise<Credential | undefined> {
    const helper = this.helperFor(registry);
    if (helper) {
      try {
        const fromHelper = await helperGet(helper, storageKey(registry));
        if (fromHelper) return fromHelper;
      } catch (err) {
        this.warn(
          `credential helper docker-credential-${helper} failed for ${registry}: ${(err as Error).message}; using "auths" from ${this.path ?? 'the config'}`,
        );
      }
    }
    const found = this.authEntry(registry);
    if (!found) return undefined;
    const [key, entry] = found;
    if (entry.identitytoken) return { identityToken: entry.identitytoken, username: entry.username };
    if (entry.username !== undefined && entry.password !== undefined)
      return { username: entry.username, password: entry.password };
    if (entry.auth) {
      const decoded = Buffer.from(entry.auth, 'base64').toString('utf8');
      const colon = decoded.indexOf(':');
      if (colon <= 0) {
        throw new MeshwasmError(
          'CONFIG',
          `${this.path ?? 'registry config'}: auths["${key}"].auth is not base64 of "user:password"`,
          {
            hint: `run \`meshwasm login ${registry}\` again to rewrite it`,
          },
        );
      }
      return { username: decoded.slice(0, colon), password: decoded.slice(colon + 1) };
    }
    return undefined;
  }

  /** Stores credentials (through the helper if one is configured), file mode 0600. */
  async store(registry: string, credential: { username: string; password: string }): Promise<void> {
    const helper = this.helperFor(registry);
    if (helper) {
      await runHelper(
        helper,
        'store',
        JSON.stringify({
          ServerURL: storageKey(registry),
          Username: credential.username,
          Secret: credential.password,
        }),
      );
      return;
    }
    const auths = { ...(this.config.auths ?? {}) };
    const existing = this.authEntry(registry);
    if (existing) delete auths[existing[0]];
    auths[storageKey(registry)] = {
      auth: Buffer.from(`${credential.username}:${credential.password}`).toString('base64'),
    };
    await this.save({ ...this.config, auths });
  }

  /** Removes stored credentials; returns false if there were none. */
  async erase(registry: string): Promise<boolean> {
    const helper = this.helperFor(registry);
    let removed = false;
    if (helper) {
      try {
        await runHelper(helper, 'erase', storageKey(registry));
        removed = true;
      } catch (err) {
        this.warn(
          `credential helper docker-credential-${helper} could not erase ${registry}: ${(err as Error).message}`,
        );
      }
    }
    const existing = this.authEntry(registry);
    if (existing) {
      const auths = { ...(this.config.auths ?? {}) };
      delete auths[existing[0]];
      await this.save({ ...this.config, auths });
      removed = true;
    }
    return removed;
  }

  private async save(next: DockerConfigFile): Promise<void> {
    const path = this.path;
    if (!path)
      throw new MeshwasmError('CONFIG', 'this registry configuration is read-only (it came from a Secret)');
    try {
      await mkdir(dirname(path), { recursive: true, mode: 0o700 });
      await writeSmallFileAtomic(path, JSON.stringify(next, null, '\t') + '\n', {
        mode: 0o600,
        durable: true,
      });
    } catch (err) {
      throw ioError(err, `cannot write registry config ${path}`);
    }
    this.config = next;
  }
}

function parseConfig(text: string, where: string): DockerConfigFile {
  try {
    const parsed: unknown = JSON.parse(text);
    if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed))
      throw new Error('not a JSON object');
    const auths = (parsed as DockerConfigFile).auths;
    if (auths !== undefined && (typeof auths !== 'object' || auths === null))
      throw new Error('"auths" is not an object');
    return parsed as DockerConfigFile;
  } catch (err) {
    // V8's JSON.parse messages quote the text around the error, which here may be a password.
    const why = err instanceof SyntaxError ? 'it is not valid JSON' : (err as Error).message;
    throw new MeshwasmError('CONFIG', `${where} is not a valid Docker config: ${why}`, {
      hint: 'it must be JSON like {"auths":{"registry.example.com":{"username":"...","password":"..."}}}',
    });
  }
}

async function helperGet(helper: string, serverUrl: string): Promise<Credential | undefined> {
  let out: string;
  try {
    out = await runHelper(helper, 'get', serverUrl);
  } catch (err) {
    if (/credentials not found/i.test((err as Error).message)) return undefined;
    throw err;
  }
  const parsed = JSON.parse(out) as { Username?: string; Secret?: string };
  if (!parsed.Secret) return undefined;
  if (parsed.Username === '<token>') return { identityToken: parsed.Secret };
  return { username: parsed.Username ?? '', password: parsed.Secret };
}

/** Runs `docker-credential-<helper> <action>` with `input` on stdin (the credential-helper protocol). */
async function runHelper(helper: string, action: 'get' | 'store' | 'erase', input: string): Promise<string> {
  // Loaded here: most runs use no helper, and node:child_process costs every run a few ms to load.
  const { spawn } = await import('node:child_process');
  return await new Promise((resolve, reject) => {
    const child = spawn(`docker-credential-${helper}`, [action], { stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', (err: NodeJS.ErrnoException) =>
      reject(new Error(err.code === 'ENOENT' ? `docker-credential-${helper} is not on PATH` : err.message)),
    );
    child.on('close', (code) => {
      if (code === 0) resolve(stdout);
      else reject(new Error((stdout || stderr).trim().split('\n')[0] || `exited with status ${code}`));
    });
    child.stdin.on('error', () => undefined);
    child.stdin.end(input);
  });
}
