/**
 * Tag -> manifest digest, with the pull secret's credentials read from the cluster at each resolution
 * (a rotated password is used at once). A digest reference needs no lookup; a tag is looked up once for
 * `IfNotPresent` and again every refresh period for `Always`; when a lookup fails the last known digest
 * keeps serving, with the failure reported alongside. For a WasmPlugin, also the module's own sha256.
 */
import { PULL_SECRET_NAME, pinnedReference, type ValidFilterDeployment } from '../mesh/index.js';
import { Resources, type KubeClient, type KubeObject } from '../kube/index.js';
import { describeError } from '../errors.js';
import type { Logger } from '../log.js';
import type { ControllerMetrics } from './metrics.js';
import type { ModuleResolver, Resolver } from './types.js';

export interface TagResolverDeps {
  client: KubeClient;
  resolver: Resolver;
  moduleResolver: ModuleResolver;
  metrics: ControllerMetrics;
  log: Logger;
  now?: () => number;
}

export class TagResolver {
  private readonly resolved = new Map<string, { digest: string; at: number }>();
  /** manifest digest -> module sha256 */
  private readonly modules = new Map<string, string>();

  constructor(
    private readonly deps: TagResolverDeps,
    private readonly opts: { namespace: string; refreshMs: number },
  ) {}

  private now(): number {
    return (this.deps.now ?? Date.now)();
  }

  async resolve(fd: ValidFilterDeployment): Promise<{ digest: string; problem?: string }> {
    if (fd.filter.reference.digest) return { digest: fd.filter.reference.digest };
    const cached = this.resolved.get(fd.filter.image);
    const fresh =
      cached &&
      (fd.filter.imagePullPolicy === 'IfNotPresent' || this.now() - cached.at < this.opts.refreshMs);
    if (cached && fresh) return { digest: cached.digest };
    try {
      const digest = await this.deps.resolver(fd.filter.image, await this.pullSecret());
      this.deps.log.debug({ image: fd.filter.image, digest }, 'resolved');
      this.deps.metrics.resolutions.inc({ result: 'ok' });
      if (cached && cached.digest !== digest)
        this.deps.log.info({ image: fd.filter.image, from: cached.digest, to: digest }, 'tag moved');
      this.resolved.set(fd.filter.image, { digest, at: this.now() });
      return { digest };
    } catch (err) {
      this.deps.metrics.resolutions.inc({ result: 'error' });
      if (cached) return { digest: cached.digest, problem: describeError(err) };
      throw err;
    }
  }

  /** The sha256 of the module a manifest digest pins (looked up once: a digest never changes). */
  async moduleDigest(fd: ValidFilterDeployment, digest: string): Promise<string> {
    const cached = this.modules.get(digest);
    if (cached) return cached;
    const moduleDigest = await this.deps.moduleResolver(
      pinnedReference(fd.filter.reference, digest),
      await this.pullSecret(),
    );
    if (this.modules.size >= 10_000) this.modules.delete(this.modules.keys().next().value!);
    this.modules.set(digest, moduleDigest);
    return moduleDigest;
  }

  /** The pull secret's .dockerconfigjson, read at each lookup (a rotated password is used at once). */
  private async pullSecret(): Promise<string | undefined> {
    const secret = await this.deps.client.find<KubeObject & { data?: Record<string, string> }>(
      Resources.secrets,
      this.opts.namespace,
      PULL_SECRET_NAME,
    );
    const raw = secret?.data?.['.dockerconfigjson'];
    return raw === undefined ? undefined : Buffer.from(raw, 'base64').toString('utf8');
  }
}
