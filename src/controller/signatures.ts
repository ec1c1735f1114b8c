/**
 * Digest -> signature check under the controller's verification policy, with the pull secret read from
 * the cluster at each check (as tags are resolved). A digest names immutable content, so a verified
 * (image, digest) pair is remembered for the life of the process; a refusal is checked again at the
 * next reconcile (the signature may be pushed after the image).
 */
import { PULL_SECRET_NAME, type ValidFilterDeployment } from '../mesh/index.js';
import { Resources, type KubeClient, type KubeObject } from '../kube/index.js';
import { describeError, isMeshwasmError } from '../errors.js';
import type { Logger } from '../log.js';
import type { SignatureCheck } from './decide.js';
import type { ControllerMetrics } from './metrics.js';
import type { SignatureVerifier } from './types.js';

export interface SignatureCheckerDeps {
  client: KubeClient;
  verifier: SignatureVerifier;
  metrics: ControllerMetrics;
  log: Logger;
}

export class SignatureChecker {
  private readonly verified = new Map<string, string>();

  constructor(
    private readonly deps: SignatureCheckerDeps,
    private readonly opts: { namespace: string },
  ) {}

  async check(fd: ValidFilterDeployment, digest: string): Promise<SignatureCheck> {
    const key = `${fd.filter.image}@${digest}`;
    const known = this.verified.get(key);
    if (known) return { signer: known };
    try {
      const secret = await this.deps.client.find<KubeObject & { data?: Record<string, string> }>(
        Resources.secrets,
        this.opts.namespace,
        PULL_SECRET_NAME,
      );
      const raw = secret?.data?.['.dockerconfigjson'];
      const { signer } = await this.deps.verifier(
        fd.filter.image,
        digest,
        raw === undefined ? undefined : Buffer.from(raw, 'base64').toString('utf8'),
      );
      this.deps.metrics.signatureVerifications.inc({ result: 'verified' });
      this.deps.log.info({ image: fd.filter.image, digest, signer }, 'signature verified');
      this.verified.set(key, signer);
      return { signer };
    } catch (err) {
      const rejected = isMeshwasmError(err, 'SIGNATURE');
      this.deps.metrics.signatureVerifications.inc({ result: rejected ? 'rejected' : 'error' });
      return { problem: describeError(err), reason: rejected ? 'Untrusted' : 'VerificationError' };
    }
  }
}
