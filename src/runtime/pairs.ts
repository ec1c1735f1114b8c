/**
 * Header maps as the ABI serialises them (little-endian): a u32 count, then a (key length, value length)
 * u32 pair per entry, then each key and value followed by a NUL byte. Pure functions, no I/O.
 */
export type HeaderPairs = Array<[string, string]>;

const encoder = new TextEncoder();
const decoder = new TextDecoder();

export function serializePairs(pairs: HeaderPairs): Uint8Array {
  const encoded: Uint8Array[] = [];
  let size = 4 + pairs.length * 8;
  for (const [k, v] of pairs) {
    const kb = encoder.encode(k);
    const vb = encoder.encode(v);
    encoded.push(kb, vb);
    size += kb.length + vb.length + 2;
  }
  const out = new Uint8Array(size);
  const view = new DataView(out.buffer);
  view.setUint32(0, pairs.length, true);
  let offset = 4 + pairs.length * 8;
  for (let i = 0; i < encoded.length; i += 2) {
    const kb = encoded[i]!;
    const vb = encoded[i + 1]!;
    view.setUint32(4 + i * 4, kb.length, true);
    view.setUint32(8 + i * 4, vb.length, true);
    out.set(kb, offset);
    offset += kb.length + 1;
    out.set(vb, offset);
    offset += vb.length + 1;
  }
  return out;
}

/** Parses a serialised map; returns undefined when the bytes are not a well-formed map. */
export function deserializePairs(bytes: Uint8Array): HeaderPairs | undefined {
  // The spec allows an empty map to be sent as zero bytes or as a single NUL byte.
  if (bytes.length === 0 || (bytes.length === 1 && bytes[0] === 0)) return [];
  if (bytes.length < 4) return undefined;
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const count = view.getUint32(0, true);
  if (4 + count * 8 > bytes.length) return undefined;
  const pairs: HeaderPairs = [];
  let offset = 4 + count * 8;
  for (let i = 0; i < count; i++) {
    const klen = view.getUint32(4 + i * 8, true);
    const vlen = view.getUint32(8 + i * 8, true);
    if (offset + klen + vlen + 2 > bytes.length) return undefined;
    const key = decoder.decode(bytes.subarray(offset, offset + klen));
    offset += klen + 1;
    const value = decoder.decode(bytes.subarray(offset, offset + vlen));
    offset += vlen + 1;
    pairs.push([key, value]);
  }
  return pairs;
}

/** Header names are case-insensitive; Envoy hands filters lower-case names, so do we. */
export function getHeader(pairs: HeaderPairs, name: string): string | undefined {
  const key = name.toLowerCase();
  let found: string | undefined;
  for (const [k, v] of pairs) if (k === key) found = found === undefined ? v : `${found},${v}`;
  return found;
}

export function removeHeader(pairs: HeaderPairs, name: string): void {
  const key = name.toLowerCase();
  for (let i = pairs.length - 1; i >= 0; i--) if (pairs[i]![0] === key) pairs.splice(i, 1);
}

export function replaceHeader(pairs: HeaderPairs, name: string, value: string): void {
  const key = name.toLowerCase();
  const first = pairs.findIndex(([k]) => k === key);
  if (first < 0) {
    pairs.push([key, value]);
    return;
  }
  pairs[first] = [key, value];
  for (let i = pairs.length - 1; i > first; i--) if (pairs[i]![0] === key) pairs.splice(i, 1);
}
