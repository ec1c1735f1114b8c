/**
 * cosign's keyless signatures in the `sha256-<hex>.sig` tag (what `cosign sign` writes without a key and
 * without `--new-bundle-format`, the default before cosign v3): the simple-signing payload is signed by an
 * ephemeral key whose Fulcio certificate is the layer's `dev.sigstore.cosign/certificate` annotation, and
 * the Rekor entry that proves when it was signed is the `dev.sigstore.cosign/bundle` annotation (the
 * signed entry timestamp with the entry's body, index, log ID and integrated time).
 *
 * Those pieces are exactly a Sigstore bundle v0.1 with a message signature and an inclusion promise, so
 * they are put into that shape here and verified by @sigstore/verify like any other bundle (certificate
 * chain against the trusted root, SCT, the SET against the log's key, the entry's body against this
 * signature and payload hash, the identity). The `dev.sigstore.cosign/chain` annotation is never used: the
 * chain comes from the trusted root, or anyone could bring their own CA.
 */
import { createHash } from 'node:crypto';
import { bundleFromJSON, type Bundle } from '@sigstore/bundle';

export const CERTIFICATE_ANNOTATION = 'dev.sigstore.cosign/certificate';
export const REKOR_BUNDLE_ANNOTATION = 'dev.sigstore.cosign/bundle';
const BUNDLE_V01_MEDIA_TYPE = 'application/vnd.dev.sigstore.bundle+json;version=0.1';

interface RekorBundleAnnotation {
  SignedEntryTimestamp?: unknown;
  Payload?: { body?: unknown; integratedTime?: unknown; logIndex?: unknown; logID?: unknown };
}

/** The DER bytes of the first PEM certificate in `pem`. */
function certificateDer(pem: string): Buffer | undefined {
  const match = /-----BEGIN CERTIFICATE-----([A-Za-z0-9+/=\s]+)-----END CERTIFICATE-----/.exec(pem);
  return match ? Buffer.from(match[1]!.replace(/\s+/g, ''), 'base64') : undefined;
}

/**
 * The bundle equivalent to one keyless `.sig` layer, or why there is none. `payload` is the layer's
 * blob, `signature` the decoded `dev.cosignproject.cosign/signature` annotation.
 */
export function keylessSignatureBundle(
  payload: Buffer,
  signature: Buffer,
  annotations: Record<string, string>,
): { bundle: Bundle } | { problem: string } {
  const der = certificateDer(annotations[CERTIFICATE_ANNOTATION] ?? '');
  if (!der) return { problem: `the ${CERTIFICATE_ANNOTATION} annotation holds no PEM certificate` };
  const rekorJson = annotations[REKOR_BUNDLE_ANNOTATION];
  if (!rekorJson)
    return {
      problem: `no ${REKOR_BUNDLE_ANNOTATION} annotation: without a transparency-log entry the certificate's time cannot be proven`,
    };
  let rekor: RekorBundleAnnotation;
  try {
    rekor = JSON.parse(rekorJson) as RekorBundleAnnotation;
  } catch {
    return { problem: `the ${REKOR_BUNDLE_ANNOTATION} annotation is not JSON` };
  }
  const entry = rekor.Payload;
  const set = rekor.SignedEntryTimestamp;
  if (
    typeof set !== 'string' ||
    typeof entry?.body !== 'string' ||
    typeof entry.integratedTime !== 'number' ||
    typeof entry.logIndex !== 'number' ||
    typeof entry.logID !== 'string' ||
    !/^[0-9a-f]{64}$/.test(entry.logID)
  )
    return {
      problem: `the ${REKOR_BUNDLE_ANNOTATION} annotation lacks SignedEntryTimestamp or Payload.body/integratedTime/logIndex/logID`,
    };
  let kind: { kind?: unknown; apiVersion?: unknown };
  try {
    kind = JSON.parse(Buffer.from(entry.body, 'base64').toString('utf8')) as typeof kind;
  } catch {
    return { problem: 'the Rekor entry body is not base64 JSON' };
  }
  if (typeof kind.kind !== 'string' || typeof kind.apiVersion !== 'string')
    return { problem: 'the Rekor entry body names no kind and apiVersion' };
  try {
    const bundle = bundleFromJSON({
      mediaType: BUNDLE_V01_MEDIA_TYPE,
      verificationMaterial: {
        x509CertificateChain: { certificates: [{ rawBytes: der.toString('base64') }] },
        tlogEntries: [
          {
            logIndex: String(entry.logIndex),
            logId: { keyId: Buffer.from(entry.logID, 'hex').toString('base64') },
            kindVersion: { kind: kind.kind, version: kind.apiVersion },
            integratedTime: String(entry.integratedTime),
            inclusionPromise: { signedEntryTimestamp: set },
            canonicalizedBody: entry.body,
          },
        ],
      },
      messageSignature: {
        messageDigest: {
          algorithm: 'SHA2_256',
          digest: createHash('sha256').update(payload).digest('base64'),
        },
        signature: signature.toString('base64'),
      },
    });
    return { bundle };
  } catch (err) {
    return { problem: `cannot be read as a Sigstore bundle (${(err as Error).message})` };
  }
}
