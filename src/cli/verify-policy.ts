import { MeshwasmError } from '../errors.js';
import {
  readKeyFile,
  readPolicyFile,
  readTrustedRoot,
  type KeylessIdentity,
  type VerificationPolicy,
} from '../sign/index.js';

export interface PolicyFlags {
  key: string[];
  certificateIdentity?: string;
  certificateIdentityRegexp?: string;
  certificateOidcIssuer?: string;
  trustedRoot?: string;
  policy?: string;
  dockerReference?: 'match' | 'ignore';
}

/** `meshwasm verify`'s flags as a policy: --policy FILE, or cosign's --key / --certificate-* flags. */
export function policyFromFlags(flags: PolicyFlags): VerificationPolicy {
  const keyless = flags.certificateIdentity !== undefined || flags.certificateIdentityRegexp !== undefined;
  if (flags.policy) {
    if (flags.key.length > 0 || keyless)
      throw new MeshwasmError('USAGE', '--policy cannot be combined with --key or --certificate-identity');
    return readPolicyFile(flags.policy);
  }
  const identities: KeylessIdentity[] = [];
  if (keyless) {
    if (flags.certificateIdentity !== undefined && flags.certificateIdentityRegexp !== undefined)
      throw new MeshwasmError(
        'USAGE',
        'give --certificate-identity or --certificate-identity-regexp, not both',
      );
    if (!flags.certificateOidcIssuer)
      throw new MeshwasmError('USAGE', 'keyless verification needs --certificate-oidc-issuer');
    if (!flags.trustedRoot)
      throw new MeshwasmError('USAGE', 'keyless verification needs --trusted-root FILE', {
        hint: 'verification is offline: pass the Sigstore trusted_root.json (e.g. from `cosign trusted-root create` or your TUF mirror)',
      });
    identities.push({
      issuer: flags.certificateOidcIssuer,
      subject: flags.certificateIdentity,
      subjectRegExp: flags.certificateIdentityRegexp,
    });
  }
  const keys = flags.key.map((file) => readKeyFile(file));
  if (keys.length === 0 && identities.length === 0)
    throw new MeshwasmError(
      'USAGE',
      'say whom to trust: --key cosign.pub, --certificate-identity ..., or --policy FILE',
    );
  return {
    keys,
    identities,
    trustedRoot: flags.trustedRoot ? readTrustedRoot(flags.trustedRoot) : undefined,
    dockerReference: flags.dockerReference ?? 'match',
    source: 'command line',
  };
}
