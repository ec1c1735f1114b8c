/**
 * Image references for the mesh layer. The grammar lives in one place, `src/oci/reference.ts` (pure);
 * this file adds what rendering needs on top: a checked pinned form and the digest's hex for file names.
 */
import { MeshwasmError } from '../errors.js';
import { digestHex as ociDigestHex, isDigest } from '../oci/digest.js';
import { formatReference, parseReference } from '../oci/reference.js';
import type { ImageReference } from './types.js';

function notADigest(digest: string): MeshwasmError {
  return new MeshwasmError('INVALID_INPUT', `"${digest}" is not a manifest digest`, {
    hint: 'a digest looks like sha256: followed by 64 lowercase hex digits',
  });
}

/** True for a well-formed manifest digest (`sha256:<64 hex>`, or sha512). */
export function isManifestDigest(value: string): boolean {
  return isDigest(value);
}

/** Parses `[registry/]repository[:tag][@digest]`; throws MeshwasmError INVALID_REFERENCE. */
export function parseImageReference(input: string): ImageReference {
  return parseReference(input);
}

/** Formats a reference back to `registry/repository[:tag][@digest]`. */
export function formatImageReference(ref: ImageReference): string {
  return formatReference(ref);
}

/** `registry/repository@digest`: the form the images ConfigMap and the agent use. */
export function pinnedReference(ref: ImageReference, digest: string): string {
  if (!isDigest(digest)) throw notADigest(digest);
  return `${ref.registry}/${ref.repository}@${digest}`;
}

/** The hex part of a digest: the agent's file name stem. */
export function digestHex(digest: string): string {
  if (!isDigest(digest)) throw notADigest(digest);
  return ociDigestHex(digest);
}
