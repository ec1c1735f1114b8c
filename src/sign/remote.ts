/** Verification of a reference's digest in its registry, in a session of its own (controller, scripts). */
import { OciSession, type OciOptions } from '../oci/index.js';
import type { VerificationPolicy } from './policy.js';
import { verifyManifestSignature, type VerifiedSignature } from './verify.js';

export async function verifyReferenceDigest(
  reference: string,
  digest: string,
  policy: VerificationPolicy,
  options: OciOptions = {},
): Promise<VerifiedSignature> {
  const session = new OciSession(options);
  try {
    const { target } = await session.open(reference);
    return await verifyManifestSignature(target, digest, policy, { reference });
  } finally {
    await session.close();
  }
}
