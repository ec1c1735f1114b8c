/**
 * The agent's side of the OCI client: one session per credential generation (a rotated pull secret
 * starts a new session, so cached tokens and credentials of the old one are never reused), tag
 * resolution, and pulls into the store's file. Every format the client reads is accepted.
 */
import type { FetchedModule } from '../cache/index.js';
import { DockerConfig, OciSession, pullWasmToFile, type OciOptions } from '../oci/index.js';
import type { VerificationPolicy } from '../sign/policy.js';

export interface Credentials {
  /** the pull secret's `.dockerconfigjson` text (cluster mode) */
  dockerConfigJson?: string;
  /** a Docker config.json path (outside a cluster) */
  registryConfig?: string;
  /** no credentials at all (in a cluster without a pull secret: never the container's own config.json) */
  anonymous?: boolean;
}

export interface PullerOptions {
  plainHttp?: boolean;
  insecure?: boolean;
  caFile?: string;
  maxModuleBytes?: number;
  /** attempts per HTTP request inside the client (the agent retries whole pulls on top); default 5 */
  httpMaxAttempts?: number;
  httpRetryBaseMs?: number;
  httpRetryMaxMs?: number;
  /**
   * With a policy, a digest's signature is verified before a byte of its module is written (a node never
   * trusts the ConfigMap alone); a digest without a trusted signature is a SIGNATURE error.
   */
  verification?: VerificationPolicy;
}

interface Generation {
  session: OciSession;
  users: number;
  retired: boolean;
}

export class Puller {
  private readonly options: PullerOptions;
  private credentials: Credentials = {};
  private current: Generation | undefined;

  constructor(options: PullerOptions, credentials: Credentials = {}) {
    this.options = options;
    this.credentials = credentials;
  }

  /** New credentials apply to the next pull; pulls already running finish with the old ones. */
  setCredentials(credentials: Credentials): void {
    this.credentials = credentials;
    this.retire();
  }

  private retire(): void {
    const old = this.current;
    this.current = undefined;
    if (old) {
      old.retired = true;
      if (old.users === 0) void old.session.close().catch(() => undefined);
    }
  }

  private async use<T>(run: (session: OciSession) => Promise<T>): Promise<T> {
    if (!this.current) {
      const options: OciOptions = {
        plainHttp: this.options.plainHttp,
        insecure: this.options.insecure,
        caFile: this.options.caFile,
        maxAttempts: this.options.httpMaxAttempts,
        retryBaseMs: this.options.httpRetryBaseMs,
        retryMaxMs: this.options.httpRetryMaxMs,
      };
      if (this.credentials.anonymous) options.credentials = DockerConfig.empty();
      else if (this.credentials.dockerConfigJson !== undefined)
        options.dockerConfigJson = this.credentials.dockerConfigJson;
      else if (this.credentials.registryConfig !== undefined)
        options.registryConfig = this.credentials.registryConfig;
      this.current = { session: new OciSession(options), users: 0, retired: false };
    }
    const generation = this.current;
    generation.users++;
    try {
      return await run(generation.session);
    } finally {
      generation.users--;
      if (generation.retired && generation.users === 0)
        void generation.session.close().catch(() => undefined);
    }
  }

  /** The manifest digest a reference names now (for tags; a pinned reference names its own). */
  resolve(reference: string): Promise<string> {
    return this.use(async (session) => {
      const { target, selector } = await session.open(reference);
      return (await target.resolve(selector)).digest;
    });
  }

  /** Pulls the module of `reference@digest` into `file` (atomically, verified against every digest). */
  fetch(
    reference: string,
    digest: string,
    file: string,
    options: { signal?: AbortSignal; onBytes?: (bytes: number) => void; onReceived?: () => void } = {},
  ): Promise<FetchedModule & { manifestDigest: string }> {
    return this.use(async (session) => {
      const { target } = await session.open(reference);
      if (this.options.verification) {
        // Loaded only when a policy is set: the Sigstore libraries cost start-up time otherwise unspent.
        const { verifyManifestSignature } = await import('../sign/verify.js');
        await verifyManifestSignature(target, digest, this.options.verification, { reference });
      }
      let seen = 0;
      const pulled = await pullWasmToFile(target, digest, file, {
        maxModuleBytes: this.options.maxModuleBytes,
        runtimeConfig: false,
        signal: options.signal,
        onReceived: options.onReceived,
        onProgress: (transferred) => {
          options.onBytes?.(transferred - seen);
          seen = transferred;
        },
      });
      return {
        manifestDigest: pulled.manifestDigest,
        moduleDigest: pulled.module.digest,
        size: pulled.module.size,
        format: pulled.format,
      };
    });
  }

  async close(): Promise<void> {
    this.retire();
  }
}
