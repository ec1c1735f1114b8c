import { MeshwasmError } from '../errors.js';
import { DockerConfig, defaultDockerConfigPath, type CredentialSource, type Warn } from './credentials.js';
import { isDigest } from './digest.js';
import { LayoutTarget } from './layout-target.js';
import { parseReference, referenceSelector, type Reference } from './reference.js';
import { RegistryClient } from './remote/client.js';
import { RemoteRepository } from './remote/repository.js';
import { Transport, type TransportOptions } from './remote/transport.js';
import type { Target } from './target.js';

export interface OciOptions extends TransportOptions {
  /** Docker config.json to read credentials from (default: $DOCKER_CONFIG or ~/.docker/config.json) */
  registryConfig?: string;
  /** the text of a kubernetes.io/dockerconfigjson Secret; wins over registryConfig */
  dockerConfigJson?: string;
  /** any other credential source */
  credentials?: CredentialSource;
  /** treat references as OCI image-layout directories: `dir[:tag|@digest]` */
  ociLayout?: boolean;
  /** upload blobs in chunks of this many bytes */
  chunkSize?: number;
  warn?: Warn;
}

export interface OpenedTarget {
  target: Target;
  /** tag or digest within the target */
  selector: string;
  /** the parsed registry reference (undefined for layouts) */
  reference?: Reference;
  display: string;
}

/**
 * Opens targets by reference and shares what is per registry (connections, credentials, tokens) between
 * them, so copies within one registry mount blobs and reuse tokens.
 */
export class OciSession {
  readonly options: OciOptions;
  private readonly transport: Transport;
  private readonly clients = new Map<string, RegistryClient>();
  private credentials: Promise<CredentialSource> | undefined;

  constructor(options: OciOptions = {}) {
    this.options = options;
    this.transport = new Transport(options);
  }

  private credentialSource(): Promise<CredentialSource> {
    this.credentials ??= (async () => {
      if (this.options.credentials) return this.options.credentials;
      if (this.options.dockerConfigJson !== undefined)
        return DockerConfig.fromJson(this.options.dockerConfigJson);
      return DockerConfig.load(defaultDockerConfigPath(this.options.registryConfig), this.options.warn);
    })();
    return this.credentials;
  }

  async client(registry: string): Promise<RegistryClient> {
    let client = this.clients.get(registry);
    if (!client) {
      client = new RegistryClient(registry, this.transport, await this.credentialSource());
      this.clients.set(registry, client);
    }
    return client;
  }

  async repository(ref: Reference): Promise<RemoteRepository> {
    return new RemoteRepository(await this.client(ref.registry), ref.repository, {
      chunkSize: this.options.chunkSize,
    });
  }

  /**
   * `registry/repo[:tag][@digest]`; with ociLayout `dir[:tag|@digest]`; and, whatever the options,
   * `oci-layout:dir[:tag|@digest]` (so a list of references can mix registries and local layouts).
   */
  async open(input: string, options: { ociLayout?: boolean } = {}): Promise<OpenedTarget> {
    const explicitLayout = input.startsWith(LAYOUT_SCHEME);
    if (explicitLayout || (options.ociLayout ?? this.options.ociLayout)) {
      const { dir, selector } = parseLayoutReference(
        explicitLayout ? input.slice(LAYOUT_SCHEME.length) : input,
      );
      return { target: new LayoutTarget(dir), selector, display: input };
    }
    const reference = parseReference(input);
    return {
      target: await this.repository(reference),
      selector: referenceSelector(reference),
      reference,
      display: input,
    };
  }

  async close(): Promise<void> {
    await this.transport.close();
  }
}

export const LAYOUT_SCHEME = 'oci-layout:';

/**
 * The tag and digest of a reference in either form (registry, or `oci-layout:`); throws a clear error
 * for a malformed one. For callers that hold lists of references (the agent's wanted set).
 */
export function parseAnyReference(input: string): { tag?: string; digest?: string } {
  if (input.startsWith(LAYOUT_SCHEME)) {
    const { selector } = parseLayoutReference(input.slice(LAYOUT_SCHEME.length));
    return isDigest(selector) ? { digest: selector } : { tag: selector };
  }
  const ref = parseReference(input);
  return { tag: ref.tag, digest: ref.digest };
}

/** ORAS's `--oci-layout` reference form: `dir[:tag|@digest]` (default tag "latest"). */
export function parseLayoutReference(input: string): { dir: string; selector: string } {
  const at = input.lastIndexOf('@');
  if (at > 0 && isDigest(input.slice(at + 1)))
    return { dir: input.slice(0, at), selector: input.slice(at + 1) };
  if (at > 0 && input.slice(at + 1).includes(':')) {
    throw new MeshwasmError(
      'INVALID_REFERENCE',
      `invalid OCI layout reference "${input}": "${input.slice(at + 1)}" is not a digest`,
    );
  }
  const colon = input.lastIndexOf(':');
  if (colon > input.lastIndexOf('/') && colon > 0) {
    const tag = input.slice(colon + 1);
    if (!/^[\w][\w.-]{0,127}$/.test(tag)) {
      throw new MeshwasmError(
        'INVALID_REFERENCE',
        `invalid OCI layout reference "${input}": "${tag}" is not a valid tag`,
      );
    }
    return { dir: input.slice(0, colon), selector: tag };
  }
  if (input === '') throw new MeshwasmError('INVALID_REFERENCE', 'an OCI layout reference needs a directory');
  return { dir: input, selector: 'latest' };
}
