/**
 * The names and the sidecar record of the module store (pure). A module lives at `<hex>.wasm`, where hex
 * is its manifest digest's hex (the name the EnvoyFilter's `code.local.filename` uses); beside it
 * `<hex>.json` records the module's own sha256 and size, so a restart can verify the file without asking
 * the registry. Names starting with a dot and holding the partial marker are files being written.
 */
import { MeshwasmError } from '../errors.js';
import { PARTIAL_MARKER } from '../oci/index.js';

export const MODULE_SUFFIX = '.wasm';
export const RECORD_SUFFIX = '.json';

export interface ModuleRecord {
  /** the manifest digest the file is named after (`sha256:<hex>`) */
  manifestDigest: string;
  /** sha256 of the module bytes */
  moduleDigest: string;
  size: number;
  /** the reference it was pulled from, for people reading the directory */
  reference?: string;
  format?: string;
  pulledAt?: string;
}

const HEX = /^[a-f0-9]{64}$/;
const MANIFEST_DIGEST = /^sha256:[a-f0-9]{64}$/;

export type StoreEntry =
  { kind: 'module'; hex: string } | { kind: 'record'; hex: string } | { kind: 'partial' } | { kind: 'other' };

/** What a directory entry is to the store. */
export function classifyName(name: string): StoreEntry {
  if (name.startsWith('.') && name.includes(PARTIAL_MARKER)) return { kind: 'partial' };
  for (const [suffix, kind] of [
    [MODULE_SUFFIX, 'module'],
    [RECORD_SUFFIX, 'record'],
  ] as const) {
    if (name.endsWith(suffix)) {
      const hex = name.slice(0, -suffix.length);
      if (HEX.test(hex)) return { kind, hex };
    }
  }
  return { kind: 'other' };
}

/** Only sha256 manifest digests name files: the EnvoyFilter renders `<hex>.wasm` from sha256 digests. */
export function hexOf(manifestDigest: string): string {
  if (!MANIFEST_DIGEST.test(manifestDigest)) {
    throw new MeshwasmError('INVALID_REFERENCE', `"${manifestDigest}" is not a sha256 manifest digest`, {
      hint: 'pin images by sha256 digest: registry/repository@sha256:<64 hex>',
    });
  }
  return manifestDigest.slice('sha256:'.length);
}

export function moduleFileName(manifestDigest: string): string {
  return `${hexOf(manifestDigest)}${MODULE_SUFFIX}`;
}

export function recordFileName(manifestDigest: string): string {
  return `${hexOf(manifestDigest)}${RECORD_SUFFIX}`;
}

export function encodeRecord(record: ModuleRecord): string {
  return `${JSON.stringify(record, null, 2)}\n`;
}

/** Parses a record; undefined when it is not one (a damaged record means an unverifiable module). */
export function parseRecord(text: string, hex: string): ModuleRecord | undefined {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return undefined;
  }
  if (typeof value !== 'object' || value === null) return undefined;
  const r = value as Partial<ModuleRecord>;
  if (
    r.manifestDigest !== `sha256:${hex}` ||
    typeof r.moduleDigest !== 'string' ||
    !MANIFEST_DIGEST.test(r.moduleDigest) ||
    typeof r.size !== 'number' ||
    !Number.isSafeInteger(r.size) ||
    r.size < 0
  ) {
    return undefined;
  }
  return r as ModuleRecord;
}
