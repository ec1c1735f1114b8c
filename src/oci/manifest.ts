import { MeshwasmError } from '../errors.js';
import type { Descriptor } from './descriptor.js';
import { isDigest } from './digest.js';
import { MediaType, isIndexMediaType } from './media-types.js';

export const MAX_MANIFEST_BYTES = 4 * 1024 * 1024;

export interface ImageManifest {
  schemaVersion: 2;
  mediaType?: string;
  artifactType?: string;
  config: Descriptor;
  layers: Descriptor[];
  subject?: Descriptor;
  annotations?: Record<string, string>;
}

export interface ImageIndex {
  schemaVersion: 2;
  mediaType?: string;
  manifests: Descriptor[];
  annotations?: Record<string, string>;
}

export type ParsedManifest =
  { kind: 'manifest'; manifest: ImageManifest } | { kind: 'index'; index: ImageIndex };

function bad(what: string, why: string): MeshwasmError {
  return new MeshwasmError('INVALID_MANIFEST', `${what}: ${why}`, {
    hint: 'the manifest is not a valid OCI or Docker v2 manifest; re-push the image with a conforming client',
  });
}

/** Parses and structurally validates a manifest or index; `mediaType` is what the registry said it is. */
export function parseManifest(bytes: Uint8Array, mediaType: string, what = 'manifest'): ParsedManifest {
  let doc: unknown;
  try {
    doc = JSON.parse(Buffer.from(bytes).toString('utf8'));
  } catch (err) {
    throw bad(what, `not valid JSON (${(err as Error).message})`);
  }
  if (typeof doc !== 'object' || doc === null || Array.isArray(doc)) throw bad(what, 'not a JSON object');
  const m = doc as Record<string, unknown>;
  if (m.schemaVersion !== 2)
    throw bad(what, `schemaVersion is ${JSON.stringify(m.schemaVersion)}, expected 2`);
  const declared = typeof m.mediaType === 'string' ? m.mediaType : undefined;
  const effective = declared ?? mediaType;
  if (isIndexMediaType(effective) || (Array.isArray(m.manifests) && !('config' in m))) {
    if (!Array.isArray(m.manifests)) throw bad(what, 'an index must have a "manifests" array');
    const manifests = m.manifests.map((d, i) => descriptor(d, `${what}: manifests[${i}]`));
    return { kind: 'index', index: { ...(m as object), schemaVersion: 2, manifests } as ImageIndex };
  }
  const config = descriptor(m.config, `${what}: config`);
  if (!Array.isArray(m.layers)) throw bad(what, '"layers" must be an array');
  const layers = m.layers.map((d, i) => descriptor(d, `${what}: layers[${i}]`));
  return {
    kind: 'manifest',
    manifest: { ...(m as object), schemaVersion: 2, config, layers } as ImageManifest,
  };
}

function descriptor(value: unknown, what: string): Descriptor {
  if (typeof value !== 'object' || value === null) throw bad(what, 'missing descriptor');
  const d = value as Record<string, unknown>;
  if (typeof d.mediaType !== 'string' || d.mediaType === '') throw bad(what, 'mediaType is missing');
  if (typeof d.digest !== 'string' || !isDigest(d.digest))
    throw bad(what, `digest ${JSON.stringify(d.digest)} is not valid`);
  if (typeof d.size !== 'number' || !Number.isSafeInteger(d.size) || d.size < 0) {
    throw bad(what, `size ${JSON.stringify(d.size)} is not a non-negative integer`);
  }
  return d as unknown as Descriptor;
}

/** The canonical bytes we push for a manifest we build (stable key order, no whitespace). */
export function encodeManifest(manifest: ImageManifest | ImageIndex): Buffer {
  return Buffer.from(JSON.stringify(manifest));
}

export function manifestMediaTypeOf(manifest: ImageManifest): string {
  return manifest.mediaType ?? MediaType.ociManifest;
}

/** The mediaType a manifest declares about itself, or undefined (also for bytes that are not JSON: the parse that follows reports those). */
export function declaredMediaType(bytes: Uint8Array): string | undefined {
  try {
    const value = (JSON.parse(Buffer.from(bytes).toString('utf8')) as { mediaType?: unknown }).mediaType;
    return typeof value === 'string' ? value : undefined;
  } catch {
    return undefined;
  }
}
