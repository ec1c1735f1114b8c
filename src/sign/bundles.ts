/**
 * Sigstore bundles for an image, stored as cosign's bundle specification says: an OCI 1.1 artifact
 * (artifactType = the bundle media type, empty config, one layer holding the bundle JSON) whose
 * `subject` is the image manifest, found through the referrers API or its tag-schema fallback.
 *
 * The bundle holds a DSSE envelope around an in-toto statement whose subject is the manifest digest and
 * whose predicateType is cosign's signature predicate (what `cosign sign --new-bundle-format` writes).
 * Parsing and validating bundles, DSSE pre-authentication encoding and every check of signatures,
 * certificates, transparency-log entries and identities are Sigstore's own code (@sigstore/bundle,
 * @sigstore/core, @sigstore/verify); this file only builds the statement and the OCI wrapping.
 */
import { sign as ecdsaSign, createHash, type KeyObject } from 'node:crypto';
import {
  BUNDLE_V03_MEDIA_TYPE,
  bundleFromJSON,
  bundleToJSON,
  isBundleWithDsseEnvelope,
  toDSSEBundle,
  type Bundle,
} from '@sigstore/bundle';
import { dsse } from '@sigstore/core';
import { MeshwasmError } from '../errors.js';
import { sha256Digest } from '../oci/digest.js';
import { encodeManifest, MAX_MANIFEST_BYTES, parseManifest } from '../oci/manifest.js';
import { MediaType } from '../oci/media-types.js';
import { attachReferrer, listReferrers } from '../oci/referrers.js';
import { readAll } from '../oci/streams.js';
import type { Descriptor, Target } from '../oci/index.js';

export const IN_TOTO_PAYLOAD_TYPE = 'application/vnd.in-toto+json';
export const IN_TOTO_STATEMENT_V1 = 'https://in-toto.io/Statement/v1';
/** cosign's predicate type for a plain image signature in a bundle. */
export const COSIGN_SIGN_PREDICATE = 'https://sigstore.dev/cosign/sign/v1';
const MAX_BUNDLE_BYTES = 1024 * 1024;
/** Referrers read per image, at most (a registry could list thousands). */
const MAX_BUNDLES = 32;
const EMPTY_CONFIG = Buffer.from('{}');

/** The in-toto statement a bundle signs for `name@digest`. */
export function signatureStatement(name: string, manifestDigest: string): Buffer {
  const [algorithm, hex] = manifestDigest.split(':') as [string, string];
  return Buffer.from(
    JSON.stringify({
      _type: IN_TOTO_STATEMENT_V1,
      subject: [{ name, digest: { [algorithm]: hex } }],
      predicateType: COSIGN_SIGN_PREDICATE,
      predicate: {},
    }),
  );
}

/** A bundle signed with a key: DSSE over the statement, the key named by its hint, no Rekor entry. */
export function keyBundle(statement: Buffer, privateKey: KeyObject, publicKeyDer: Buffer): Bundle {
  const signature = ecdsaSign('sha256', dsse.preAuthEncoding(IN_TOTO_PAYLOAD_TYPE, statement), privateKey);
  const keyHint = createHash('sha256').update(publicKeyDer).digest('base64');
  return toDSSEBundle({ artifact: statement, artifactType: IN_TOTO_PAYLOAD_TYPE, signature, keyHint });
}

/** Attaches a bundle to the image `subject` as a referrer. */
export async function attachBundle(
  target: Target,
  subject: Descriptor,
  bundle: Bundle,
): Promise<{ descriptor: Descriptor; source: 'api' | 'tag-schema' }> {
  const json = Buffer.from(JSON.stringify(bundleToJSON(bundle)));
  const layer: Descriptor = {
    mediaType: BUNDLE_V03_MEDIA_TYPE,
    digest: sha256Digest(json),
    size: json.length,
  };
  const config: Descriptor = {
    mediaType: MediaType.ociEmpty,
    digest: sha256Digest(EMPTY_CONFIG),
    size: EMPTY_CONFIG.length,
  };
  if (!(await target.exists(config))) await target.push(config, EMPTY_CONFIG);
  await target.push(layer, json);
  const annotations = {
    'dev.sigstore.bundle.content': isBundleWithDsseEnvelope(bundle) ? 'dsse-envelope' : 'message-signature',
    'dev.sigstore.bundle.predicateType': COSIGN_SIGN_PREDICATE,
    'org.opencontainers.image.created': new Date().toISOString(),
  };
  const manifest = encodeManifest({
    schemaVersion: 2,
    mediaType: MediaType.ociManifest,
    artifactType: BUNDLE_V03_MEDIA_TYPE,
    config,
    layers: [layer],
    subject: { mediaType: subject.mediaType, digest: subject.digest, size: subject.size },
    annotations,
  });
  return attachReferrer(target, manifest, { artifactType: BUNDLE_V03_MEDIA_TYPE, annotations });
}

export interface StoredBundle {
  /** the referrer manifest's digest, for messages */
  digest: string;
  bundle: Bundle;
}

/**
 * The Sigstore bundles attached to `subjectDigest`, parsed and structurally validated by @sigstore/bundle.
 * One that cannot be read is reported through `problems` and skipped (another may still verify).
 */
export async function readBundles(
  target: Target,
  subjectDigest: string,
): Promise<{ bundles: StoredBundle[]; problems: string[]; source: 'api' | 'tag-schema' }> {
  const { referrers, source } = await listReferrers(target, subjectDigest);
  const candidates = referrers
    .filter((d) => d.artifactType?.startsWith('application/vnd.dev.sigstore.bundle'))
    .slice(0, MAX_BUNDLES);
  const bundles: StoredBundle[] = [];
  const problems: string[] = [];
  for (const ref of candidates) {
    try {
      const what = `bundle manifest ${ref.digest} of ${target.description}`;
      const bytes = await readAll(await target.fetch(ref), MAX_MANIFEST_BYTES, what);
      const parsed = parseManifest(bytes, ref.mediaType, what);
      if (parsed.kind !== 'manifest') throw new Error('an index, not a bundle manifest');
      if (parsed.manifest.subject?.digest !== subjectDigest)
        throw new Error('its subject is another manifest');
      const layer = parsed.manifest.layers[0];
      if (!layer || !layer.mediaType.startsWith('application/vnd.dev.sigstore.bundle'))
        throw new Error('no bundle layer');
      const json = await readAll(await target.fetch(layer), MAX_BUNDLE_BYTES, `bundle ${layer.digest}`);
      bundles.push({ digest: ref.digest, bundle: bundleFromJSON(JSON.parse(json.toString('utf8'))) });
    } catch (err) {
      if (err instanceof MeshwasmError && err.code === 'NETWORK') throw err;
      problems.push(`bundle ${ref.digest}: ${(err as Error).message}`);
    }
  }
  return { bundles, problems, source };
}

/**
 * Whether a bundle's DSSE payload is cosign's signature statement for `manifestDigest`; a reason if not.
 * Called only after the envelope's signature has been verified.
 */
export function statementProblem(bundle: Bundle, manifestDigest: string): string | undefined {
  if (!isBundleWithDsseEnvelope(bundle)) return 'a message-signature bundle does not name an image digest';
  const envelope = bundle.content.dsseEnvelope;
  if (envelope.payloadType !== IN_TOTO_PAYLOAD_TYPE)
    return `payload type ${envelope.payloadType} is not in-toto`;
  let statement: { predicateType?: unknown; subject?: { digest?: Record<string, unknown> }[] };
  try {
    statement = JSON.parse(envelope.payload.toString('utf8')) as typeof statement;
  } catch {
    return 'the statement is not JSON';
  }
  if (statement.predicateType !== COSIGN_SIGN_PREDICATE)
    return `predicate ${JSON.stringify(statement.predicateType)} is not a cosign signature (${COSIGN_SIGN_PREDICATE})`;
  const [algorithm, hex] = manifestDigest.split(':') as [string, string];
  const named = (statement.subject ?? []).some((s) => s.digest?.[algorithm] === hex);
  return named ? undefined : `the statement's subject is not ${manifestDigest}`;
}
