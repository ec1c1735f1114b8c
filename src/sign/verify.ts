/**
 * Verifies that an image manifest digest is signed by a signer the policy trusts. Looks at cosign's
 * `sha256-<hex>.sig` signatures (keys, and keyless ones with their certificate and Rekor entry) and at Sigstore bundles attached as referrers (keys and keyless
 * identities); the first signature that verifies wins. Nothing here talks to anything but the target.
 */
import { verify as ecdsaVerify } from 'node:crypto';
import type { Bundle } from '@sigstore/bundle';
import type { TrustedRoot } from '@sigstore/protobuf-specs';
import {
  toSignedEntity,
  toTrustMaterial,
  Verifier,
  type VerificationPolicy as SigstorePolicy,
} from '@sigstore/verify';
import { MeshwasmError } from '../errors.js';
import type { Target } from '../oci/index.js';
import { readBundles, statementProblem } from './bundles.js';
import { CERTIFICATE_ANNOTATION, keylessSignatureBundle } from './cosign-keyless.js';
import { readCosignSignatures, type StoredSignature } from './cosign-tag.js';
import { dockerReferenceProblem, statementRepositoryProblem } from './docker-reference.js';
import { describeKey, type PublicKey } from './keys.js';
import {
  describeIdentity,
  describeSigners,
  type KeylessIdentity,
  type VerificationPolicy,
} from './policy.js';
import { payloadDigest, signatureTag } from './simple-signing.js';

export interface VerifiedSignature {
  digest: string;
  /** "key release (sha256:0123...)" or "identity dev@example.com from issuer https://..." */
  signer: string;
  /** where the signature that verified was stored */
  via: 'cosign-signature-tag' | 'sigstore-bundle';
  /** for bundles: found through the referrers API or the tag schema */
  referrers?: 'api' | 'tag-schema';
}

/** An empty trusted root: key-only verification needs no certificate authority or log. */
const NO_ROOT: TrustedRoot = {
  mediaType: 'application/vnd.dev.sigstore.trustedroot+json;version=0.1',
  tlogs: [],
  certificateAuthorities: [],
  ctlogs: [],
  timestampAuthorities: [],
};

/**
 * Resolves nothing (the digest is given): the caller pins the digest first and verifies that digest,
 * so what runs is what was verified. Throws a SIGNATURE error naming what was tried if nothing verifies.
 */
export async function verifyManifestSignature(
  target: Target,
  digest: string,
  policy: VerificationPolicy,
  options: {
    /** the registry reference being verified: a cosign signature must name its repository (policy) */
    reference?: string;
  } = {},
): Promise<VerifiedSignature> {
  const notes: string[] = [];

  let cosignCount = 0;
  if (policy.keys.length > 0 || keylessPolicy(policy)) {
    const stored = await readCosignSignatures(target, digest);
    cosignCount = stored.length;
    for (const sig of stored) {
      const signer = cosignSigner(sig, policy);
      if ('problem' in signer) {
        notes.push(
          `signature ${sig.layer.digest.slice(0, 19)} in ${signatureTag(digest)}: ${signer.problem}`,
        );
        continue;
      }
      const payload = payloadDigest(sig.payload);
      if ('problem' in payload) notes.push(`signature by ${signer.signer}: ${payload.problem}`);
      else if (payload.digest !== digest)
        notes.push(`signature by ${signer.signer} is for another image, ${payload.digest}`);
      else {
        const elsewhere =
          policy.dockerReference === 'match' && options.reference !== undefined
            ? dockerReferenceProblem(sig.payload, options.reference)
            : undefined;
        if (elsewhere) notes.push(`signature by ${signer.signer}: ${elsewhere}`);
        else return { digest, signer: signer.signer, via: 'cosign-signature-tag' };
      }
    }
  }

  const { bundles, problems, source } = await readBundles(target, digest);
  notes.push(...problems);
  for (const { digest: bundleDigest, bundle } of bundles) {
    const outcome = verifyBundle(bundle, policy);
    if ('problem' in outcome) {
      notes.push(`bundle ${bundleDigest.slice(0, 19)}: ${outcome.problem}`);
      continue;
    }
    const problem =
      statementProblem(bundle, digest) ??
      (policy.dockerReference === 'match' &&
      options.reference !== undefined &&
      'dsseEnvelope' in bundle.content
        ? statementRepositoryProblem(bundle.content.dsseEnvelope.payload, digest, options.reference)
        : undefined);
    if (problem) notes.push(`bundle ${bundleDigest.slice(0, 19)} signed by ${outcome.signer}: ${problem}`);
    else return { digest, signer: outcome.signer, via: 'sigstore-bundle', referrers: source };
  }

  const found =
    cosignCount + bundles.length === 0
      ? `no signature found (no ${signatureTag(digest)} tag${policy.keys.length === 0 && !keylessPolicy(policy) ? ' read: no keys or identities' : ''}, no Sigstore bundle among its referrers (${source === 'api' ? 'referrers API' : 'referrers tag schema'}))`
      : notes.join('; ');
  throw new MeshwasmError(
    'SIGNATURE',
    `${target.description}@${digest}: not signed by any trusted signer (tried ${describeSigners(policy)}): ${found}`,
    {
      hint:
        cosignCount + bundles.length === 0
          ? 'sign it with `meshwasm sign REF --key cosign.key` (or `cosign sign`), or check the policy names the right repository'
          : 'sign this digest with a key or identity the policy lists, or add the signer to the policy',
    },
  );
}

const keylessPolicy = (policy: VerificationPolicy) =>
  policy.identities.length > 0 && policy.trustedRoot !== undefined;

/**
 * Who made one `.sig` layer's signature: a listed key, or (a keyless layer, with its certificate and
 * Rekor entry in annotations) a listed identity. The payload itself is checked by the caller.
 */
function cosignSigner(
  sig: StoredSignature,
  policy: VerificationPolicy,
): { signer: string } | { problem: string } {
  const key = policy.keys.find((k) => verifies(sig.payload, k, sig.signature));
  if (key) return { signer: describeKey(key) };
  if (sig.annotations[CERTIFICATE_ANNOTATION] === undefined)
    return {
      problem:
        policy.keys.length === 0
          ? 'signed with a key, and the policy lists no keys'
          : 'made by none of the keys',
    };
  if (!keylessPolicy(policy))
    return {
      problem: 'keyless (a Fulcio certificate), and the policy lists no identities with a trusted root',
    };
  const converted = keylessSignatureBundle(sig.payload, sig.signature, sig.annotations);
  if ('problem' in converted) return { problem: `keyless: ${converted.problem}` };
  return verifyBundle(converted.bundle, policy, sig.payload);
}

function verifies(payload: Buffer, key: PublicKey, signature: Buffer): boolean {
  try {
    return ecdsaVerify('sha256', payload, key.key, signature);
  } catch {
    return false; // a signature that is not even DER
  }
}

/** Runs @sigstore/verify for each signer of the policy that fits the bundle's kind of key. */
function verifyBundle(
  bundle: Bundle,
  policy: VerificationPolicy,
  /** what a message-signature bundle signs (a DSSE bundle carries its payload) */
  artifact?: Buffer,
): { signer: string } | { problem: string } {
  let entity;
  try {
    entity = toSignedEntity(bundle, artifact);
  } catch (err) {
    return { problem: `cannot be read (${(err as Error).message})` };
  }
  const failures: string[] = [];
  if (entity.key.$case === 'public-key') {
    if (policy.keys.length === 0) return { problem: 'signed with a key, and the policy lists no keys' };
    for (const key of policy.keys) {
      // The hint in the bundle is only a label; every trusted key is tried against the signature.
      const trust = toTrustMaterial(policy.trustedRoot ?? NO_ROOT, () => ({
        publicKey: key.key,
        validFor: () => true,
      }));
      try {
        new Verifier(trust, { tlogThreshold: 0, ctlogThreshold: 0, timestampThreshold: 0 }).verify(entity);
        return { signer: describeKey(key) };
      } catch (err) {
        failures.push(`${describeKey(key)}: ${(err as Error).message}`);
      }
    }
    return { problem: failures.join('; ') };
  }
  if (policy.identities.length === 0 || !policy.trustedRoot)
    return { problem: 'keyless (a certificate), and the policy lists no identities with a trusted root' };
  const trust = toTrustMaterial(policy.trustedRoot);
  for (const identity of policy.identities) {
    try {
      // Keyless needs the certificate's time proven: one transparency-log entry (Rekor) and one SCT.
      new Verifier(trust, { tlogThreshold: 1, ctlogThreshold: 1, timestampThreshold: 1 }).verify(
        entity,
        sigstorePolicy(identity),
      );
      return { signer: describeIdentity(identity) };
    } catch (err) {
      failures.push(`${describeIdentity(identity)}: ${(err as Error).message}`);
    }
  }
  return { problem: failures.join('; ') };
}

/** @sigstore/verify treats the SAN as a pattern; an exact subject is anchored and escaped. */
function sigstorePolicy(identity: KeylessIdentity): SigstorePolicy {
  const pattern = identity.subjectRegExp ?? `^${identity.subject!.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}$`;
  return { subjectAlternativeName: pattern, extensions: { issuer: identity.issuer } };
}
