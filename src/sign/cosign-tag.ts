/**
 * Reads and writes the manifest cosign keeps an image's signatures in (tag `sha256-<hex>.sig` in the
 * image's own repository): one layer per signature, the payload as the blob, the signature (and, for
 * keyless cosign signatures, certificate and Rekor bundle) as layer annotations.
 */
import { MeshwasmError } from '../errors.js';
import { encodeManifest, MAX_MANIFEST_BYTES, parseManifest, type ImageManifest } from '../oci/manifest.js';
import { MediaType } from '../oci/media-types.js';
import { readAll } from '../oci/streams.js';
import { sha256Digest } from '../oci/digest.js';
import type { Descriptor, Target } from '../oci/index.js';
import { SIGNATURE_ANNOTATION, SIMPLE_SIGNING_MEDIA_TYPE, signatureTag } from './simple-signing.js';

/** A payload is a few hundred bytes; anything much larger is not a signature. */
const MAX_PAYLOAD_BYTES = 64 * 1024;
/** A registry could list thousands of layers; we read at most this many signatures per image. */
export const MAX_SIGNATURES = 64;

export interface StoredSignature {
  layer: Descriptor;
  payload: Buffer;
  /** DER ECDSA signature, decoded from the annotation */
  signature: Buffer;
  /** the layer's annotations (keyless signatures carry their certificate and Rekor entry here) */
  annotations: Record<string, string>;
}

async function readSignatureManifest(
  target: Target,
  manifestDigest: string,
): Promise<{ manifest: ImageManifest; descriptor: Descriptor } | undefined> {
  const tag = signatureTag(manifestDigest);
  let descriptor: Descriptor;
  try {
    descriptor = await target.resolve(tag);
  } catch (err) {
    if (err instanceof MeshwasmError && err.code === 'NOT_FOUND') return undefined;
    throw err;
  }
  const what = `signature manifest ${tag} of ${target.description}`;
  const bytes = await readAll(await target.fetch(descriptor), MAX_MANIFEST_BYTES, what);
  const parsed = parseManifest(bytes, descriptor.mediaType, what);
  if (parsed.kind !== 'manifest')
    throw new MeshwasmError('INVALID_MANIFEST', `${what}: an index, not a signature manifest`);
  return { manifest: parsed.manifest, descriptor };
}

/** The simple-signing signatures stored for a manifest digest (none if the `.sig` tag is absent). */
export async function readCosignSignatures(
  target: Target,
  manifestDigest: string,
): Promise<StoredSignature[]> {
  const found = await readSignatureManifest(target, manifestDigest);
  if (!found) return [];
  const layers = found.manifest.layers
    .filter((l) => l.mediaType === SIMPLE_SIGNING_MEDIA_TYPE && l.annotations?.[SIGNATURE_ANNOTATION])
    .slice(0, MAX_SIGNATURES);
  const out: StoredSignature[] = [];
  for (const layer of layers) {
    if (layer.size > MAX_PAYLOAD_BYTES) continue;
    const payload = await readAll(
      await target.fetch(layer),
      MAX_PAYLOAD_BYTES,
      `signature payload ${layer.digest}`,
    );
    out.push({
      layer,
      payload,
      signature: Buffer.from(layer.annotations![SIGNATURE_ANNOTATION]!, 'base64'),
      annotations: layer.annotations!,
    });
  }
  return out;
}

function sameAnnotations(a: Record<string, string> = {}, b: Record<string, string> = {}): boolean {
  const keys = Object.keys(a);
  return keys.length === Object.keys(b).length && keys.every((k) => a[k] === b[k]);
}

/**
 * Adds one signature to the image's `.sig` manifest (keeping the ones there, as cosign appends) and
 * re-tags it. Pushing the same payload, signature and annotations again changes nothing.
 */
export async function writeCosignSignature(
  target: Target,
  manifestDigest: string,
  payload: Buffer,
  signatureBase64: string,
  /** more layer annotations: a keyless signature's certificate and Rekor entry */
  annotations: Record<string, string> = {},
): Promise<{ tag: string; digest: string; signatures: number }> {
  const tag = signatureTag(manifestDigest);
  const existing = await readSignatureManifest(target, manifestDigest);
  const layer: Descriptor = {
    mediaType: SIMPLE_SIGNING_MEDIA_TYPE,
    digest: sha256Digest(payload),
    size: payload.length,
    annotations: { ...annotations, [SIGNATURE_ANNOTATION]: signatureBase64 },
  };
  const layers = existing?.manifest.layers ?? [];
  const same = layers.some(
    (l) => l.digest === layer.digest && sameAnnotations(l.annotations, layer.annotations),
  );
  if (same && existing) return { tag, digest: existing.descriptor.digest, signatures: layers.length };
  const all = [...layers, layer];
  await target.push(layer, payload);
  // The config go-containerregistry writes for cosign's signature images: diff_ids name the layers.
  const config = Buffer.from(
    JSON.stringify({
      architecture: '',
      created: '0001-01-01T00:00:00Z',
      history: [{ created: '0001-01-01T00:00:00Z' }],
      os: '',
      rootfs: { type: 'layers', diff_ids: all.map((l) => l.digest) },
      config: {},
    }),
  );
  const configDescriptor: Descriptor = {
    mediaType: MediaType.ociConfig,
    digest: sha256Digest(config),
    size: config.length,
  };
  if (!(await target.exists(configDescriptor))) await target.push(configDescriptor, config);
  const manifest = encodeManifest({
    schemaVersion: 2,
    mediaType: MediaType.ociManifest,
    config: configDescriptor,
    layers: all,
  });
  const descriptor: Descriptor = {
    mediaType: MediaType.ociManifest,
    digest: sha256Digest(manifest),
    size: manifest.length,
  };
  await target.push(descriptor, manifest);
  await target.tag(descriptor, tag);
  return { tag, digest: descriptor.digest, signatures: all.length };
}
