/**
 * OCI 1.1 referrers: artifacts (signatures, Sigstore bundles, SBOMs) that point at a manifest through
 * their `subject`. Registries with the referrers API index them on push; for the others (Docker's
 * distribution 2.8, most mirrors) the distribution spec's tag schema is the fallback: an image index
 * tagged `sha256-<hex>` that lists them, kept up to date by the client that pushes.
 */
import { MeshwasmError } from '../errors.js';
import type { Descriptor } from './descriptor.js';
import { digestHex, sha256Digest } from './digest.js';
import { encodeManifest, MAX_MANIFEST_BYTES, parseManifest, type ImageIndex } from './manifest.js';
import { MediaType } from './media-types.js';
import { readAll } from './streams.js';
import type { Target } from './target.js';

/** The referrers tag schema's tag for a subject: `sha256:<hex>` becomes `sha256-<hex>`. */
export function referrersTag(subjectDigest: string): string {
  return subjectDigest.replace(':', '-');
}

export interface ReferrerList {
  referrers: Descriptor[];
  /** where the list came from: the registry's referrers API, or the fallback tag */
  source: 'api' | 'tag-schema';
}

/** Lists what refers to `subjectDigest`, optionally only one artifactType; an empty list if nothing does. */
export async function listReferrers(
  target: Target,
  subjectDigest: string,
  artifactType?: string,
): Promise<ReferrerList> {
  const fromApi = target.referrers ? await target.referrers(subjectDigest) : undefined;
  const filter = (list: Descriptor[]): Descriptor[] =>
    artifactType ? list.filter((d) => d.artifactType === artifactType) : list;
  if (fromApi) return { referrers: filter(fromApi), source: 'api' };
  const index = await readFallbackIndex(target, subjectDigest);
  return { referrers: filter(index?.manifests ?? []), source: 'tag-schema' };
}

/**
 * Pushes an artifact manifest whose `subject` is set (its blobs must be in the store already) and makes
 * it findable: a registry with the referrers API lists it by itself; otherwise the fallback index is
 * read, extended and re-tagged. Returns the manifest's descriptor and which way it was indexed.
 */
export async function attachReferrer(
  target: Target,
  manifest: Buffer,
  descriptorFields: { artifactType: string; annotations?: Record<string, string> },
): Promise<{ descriptor: Descriptor; source: 'api' | 'tag-schema' }> {
  const parsed = parseManifest(manifest, MediaType.ociManifest, 'referrer manifest');
  const subject = parsed.kind === 'manifest' ? parsed.manifest.subject : undefined;
  if (!subject) throw new MeshwasmError('INTERNAL', 'a referrer manifest needs a subject');
  const descriptor: Descriptor = {
    mediaType: MediaType.ociManifest,
    digest: sha256Digest(manifest),
    size: manifest.length,
    artifactType: descriptorFields.artifactType,
    ...(descriptorFields.annotations ? { annotations: descriptorFields.annotations } : {}),
  };
  await target.push(descriptor, manifest);
  const fromApi = target.referrers ? await target.referrers(subject.digest) : undefined;
  if (fromApi) {
    if (fromApi.some((d) => d.digest === descriptor.digest)) return { descriptor, source: 'api' };
    throw new MeshwasmError(
      'REGISTRY',
      `${target.description}: the registry has the referrers API but does not list ${descriptor.digest} as referring to ${subject.digest}`,
      { hint: 'the registry may not support the manifest "subject" field; use a registry that does' },
    );
  }
  // Tag schema. Two clients updating it at once can lose an entry (the spec accepts the race); the
  // artifact itself is stored either way and a later attach re-adds what it lists.
  const index: ImageIndex = (await readFallbackIndex(target, subject.digest)) ?? {
    schemaVersion: 2,
    mediaType: MediaType.ociIndex,
    manifests: [],
  };
  if (!index.manifests.some((d) => d.digest === descriptor.digest)) {
    const updated = encodeManifest({ ...index, manifests: [...index.manifests, descriptor] });
    const indexDescriptor: Descriptor = {
      mediaType: MediaType.ociIndex,
      digest: sha256Digest(updated),
      size: updated.length,
    };
    await target.push(indexDescriptor, updated);
    await target.tag(indexDescriptor, referrersTag(subject.digest));
  }
  return { descriptor, source: 'tag-schema' };
}

async function readFallbackIndex(target: Target, subjectDigest: string): Promise<ImageIndex | undefined> {
  const tag = referrersTag(subjectDigest);
  let found: Descriptor;
  try {
    found = await target.resolve(tag);
  } catch (err) {
    if (err instanceof MeshwasmError && err.code === 'NOT_FOUND') return undefined;
    throw err;
  }
  const what = `referrers index ${tag} of ${target.description}`;
  const bytes = await readAll(await target.fetch(found), MAX_MANIFEST_BYTES, what);
  const parsed = parseManifest(bytes, found.mediaType, what);
  if (parsed.kind !== 'index') {
    throw new MeshwasmError(
      'INVALID_MANIFEST',
      `${what}: the tag ${tag} holds a manifest, not an index (sha256-${digestHex(subjectDigest).slice(0, 12)}... is reserved for referrers)`,
    );
  }
  return parsed.index;
}
