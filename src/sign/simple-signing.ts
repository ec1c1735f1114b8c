/**
 * cosign's signature format for images: a "simple signing" payload (containers/image's format) naming
 * the manifest digest, signed with ECDSA-SHA256, stored as a layer of the manifest tagged
 * `sha256-<hex>.sig` with the base64 signature in the `dev.cosignproject.cosign/signature` annotation.
 */
export const SIMPLE_SIGNING_MEDIA_TYPE = 'application/vnd.dev.cosign.simplesigning.v1+json';
export const SIGNATURE_ANNOTATION = 'dev.cosignproject.cosign/signature';
export const SIMPLE_SIGNING_TYPE = 'cosign container image signature';

/** The tag cosign stores an image's signatures under: `sha256:<hex>` becomes `sha256-<hex>.sig`. */
export function signatureTag(manifestDigest: string): string {
  return `${manifestDigest.replace(':', '-')}.sig`;
}

export interface SimpleSigningPayload {
  critical: {
    identity: { 'docker-reference': string };
    image: { 'docker-manifest-digest': string };
    type: string;
  };
  optional: Record<string, unknown> | null;
}

/** The payload cosign signs for `repository@digest` (repository without tag or digest). */
export function simpleSigningPayload(dockerReference: string, manifestDigest: string): Buffer {
  const payload: SimpleSigningPayload = {
    critical: {
      identity: { 'docker-reference': dockerReference },
      image: { 'docker-manifest-digest': manifestDigest },
      type: SIMPLE_SIGNING_TYPE,
    },
    optional: null,
  };
  return Buffer.from(JSON.stringify(payload));
}

/**
 * The manifest digest a payload vouches for, or a reason it vouches for none. Only `critical` counts,
 * as in cosign: `optional` is free-form.
 */
export function payloadDigest(bytes: Buffer): { digest: string } | { problem: string } {
  let doc: unknown;
  try {
    doc = JSON.parse(bytes.toString('utf8'));
  } catch {
    return { problem: 'the payload is not JSON' };
  }
  const critical = (doc as { critical?: Partial<SimpleSigningPayload['critical']> } | null)?.critical;
  if (!critical || typeof critical !== 'object') return { problem: 'the payload has no "critical" section' };
  if (critical.type !== SIMPLE_SIGNING_TYPE)
    return { problem: `the payload type is ${JSON.stringify(critical.type)}, not "${SIMPLE_SIGNING_TYPE}"` };
  const digest = critical.image?.['docker-manifest-digest'];
  if (typeof digest !== 'string') return { problem: 'the payload names no docker-manifest-digest' };
  return { digest };
}
