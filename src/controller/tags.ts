/**
 * Tag -> manifest digest, with the pull secret's credentials read from the cluster at each resolution
 * (a rotated password is used at once). A digest reference needs no lookup; a tag is looked up once for
 * `IfNotPresent` and again every refresh period for `Always`; when a lookup fails the last known digest
 * keeps serving, with the failure reported alongside.
 */
import { PULL_SECRET_NAME, type ValidFilterDeployment } from '../mesh/index.js';
import { Resources, type KubeClient, type KubeObject } from '../kube/index.js';
import { describeError } from '../errors.js';
import type { Logger } from '../log.js';
import type { ControllerMetrics } from './metrics.js';
import type { Resolver } from './types.js';

export class TagResolver {
  private readonly resolved = new Map<string, { digest: string; at: number }>();

  constructor(
    private readonly client: KubeClient,
    private readonly resolver: Resolver,
    private readonly metrics: ControllerMetrics,
    private readonly log: Logger,
    private readonly namespace: string,
    private readonly refreshMs: number,
  ) {}

  async resolve(fd: ValidFilterDeployment): Promise<{ digest: string; problem?: string }> {
    if (fd.filter.reference.digest) return { digest: fd.filter.reference.digest };
    const cached = this.resolved.get(fd.filter.image);
    const fresh =
      cached && (fd.filter.imagePullPolicy === 'IfNotPresent' || Date.now() - cached.at < this.refreshMs);
    if (cached && fresh) return { digest: cached.digest };
    try {
      const secret = await this.client.find<KubeObject & { data?: Record<string, string> }>(
        Resources.secrets,
        this.namespace,
        PULL_SECRET_NAME,
      );
      const raw = secret?.data?.['.dockerconfigjson'];
      const digest = await this.resolver(
        fd.filter.image,
        raw === undefined ? undefined : Buffer.from(raw, 'base64').toString('utf8'),
      );
      this.log.debug({ image: fd.filter.image, digest }, 'resolved');
      this.metrics.resolutions.inc({ result: 'ok' });
      if (cached && cached.digest !== digest)
        this.log.info({ image: fd.filter.image, from: cached.digest, to: digest }, 'tag moved');
      this.resolved.set(fd.filter.image, { digest, at: Date.now() });
      return { digest };
    } catch (err) {
      this.metrics.resolutions.inc({ result: 'error' });
      if (cached) return { digest: cached.digest, problem: describeError(err) };
      throw err;
    }
  }
}
