import { describe, expect, it } from 'vitest';
import {
  deserializePairs,
  getHeader,
  removeHeader,
  replaceHeader,
  serializePairs,
} from '../../src/runtime/index.js';

describe('header map serialisation', () => {
  it("encodes the spec's example map byte for byte", () => {
    const bytes = serializePairs([
      ['a', '1'],
      ['b', '22'],
    ]);
    expect([...bytes]).toEqual([
      2, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 2, 0, 0, 0, 0x61, 0, 0x31, 0, 0x62, 0, 0x32, 0x32, 0,
    ]);
  });

  it('round-trips UTF-8 names and values, repeated keys and empty values', () => {
    const pairs: Array<[string, string]> = [
      ['x-emoji', 'héllo ✓'],
      ['set-cookie', 'a=1'],
      ['set-cookie', 'b=2'],
      ['empty', ''],
    ];
    expect(deserializePairs(serializePairs(pairs))).toEqual(pairs);
  });

  it('accepts both encodings of an empty map', () => {
    expect(deserializePairs(new Uint8Array(0))).toEqual([]);
    expect(deserializePairs(new Uint8Array([0]))).toEqual([]);
  });

  it('rejects truncated or inconsistent input instead of reading past it', () => {
    const good = serializePairs([['key', 'value']]);
    expect(deserializePairs(good.subarray(0, good.length - 3))).toBeUndefined();
    expect(deserializePairs(new Uint8Array([5, 0, 0, 0, 1, 0, 0, 0]))).toBeUndefined();
    expect(deserializePairs(new Uint8Array([1, 0]))).toBeUndefined();
  });

  it('treats names case-insensitively and joins repeated values like Envoy', () => {
    const pairs: Array<[string, string]> = [
      ['accept', 'a'],
      ['accept', 'b'],
      ['host', 'h'],
    ];
    expect(getHeader(pairs, 'Accept')).toBe('a,b');
    replaceHeader(pairs, 'ACCEPT', 'c');
    expect(pairs).toEqual([
      ['accept', 'c'],
      ['host', 'h'],
    ]);
    removeHeader(pairs, 'Host');
    expect(pairs).toEqual([['accept', 'c']]);
  });
});
