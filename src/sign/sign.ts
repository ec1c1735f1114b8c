/**
 * Signs an image manifest digest with a key, in the formats cosign reads: the simple-signing signature
 * in the `sha256-<hex>.sig` tag (what `cosign sign --key` writes and `cosign verify --key` checks) and,
 * optionally, a Sigstore bundle attached as an OCI referrer (cosign's `--new-bundle-format`).
 */
import { createPublicKey, sign as ecdsaSign, type KeyObject } from 'node:crypto';
import type { Descriptor, Target } from '../oci/index.js';
import { attachBundle, keyBundle, signatureStatement } from './bundles.js';
import { writeCosignSignature } from './cosign-tag.js';
import { simpleSigningPayload } from './simple-signing.js';

export interface SignOptions {
  /** also attach a Sigstore bundle as a referrer (default: only the cosign signature tag) */
  bundle?: boolean;
}

export interface SignResult {
  digest: string;
  signatureTag: string;
  signatureManifest: string;
  /** the bundle referrer, if one was attached, and how the registry indexes it */
  bundle?: { digest: string; referrers: 'api' | 'tag-schema' };
}

/**
 * `dockerReference` is the repository the payload names (`registry/repo`, no tag or digest), as cosign
 * writes it; verification checks the digest, not this name, so signatures survive a copy to a mirror.
 */
export async function signManifest(
  target: Target,
  manifest: Descriptor,
  dockerReference: string,
  privateKey: KeyObject,
  options: SignOptions = {},
): Promise<SignResult> {
  const payload = simpleSigningPayload(dockerReference, manifest.digest);
  const signature = ecdsaSign('sha256', payload, privateKey).toString('base64');
  const written = await writeCosignSignature(target, manifest.digest, payload, signature);
  const result: SignResult = {
    digest: manifest.digest,
    signatureTag: written.tag,
    signatureManifest: written.digest,
  };
  if (options.bundle) {
    const publicDer = createPublicKey(privateKey).export({ type: 'spki', format: 'der' });
    const bundle = keyBundle(signatureStatement(dockerReference, manifest.digest), privateKey, publicDer);
    const attached = await attachBundle(target, manifest, bundle);
    result.bundle = { digest: attached.descriptor.digest, referrers: attached.source };
  }
  return result;
}
