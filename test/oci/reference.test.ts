import { describe, expect, it } from 'vitest';
import {
  formatReference,
  parseReference,
  pinnedReference,
  referenceSelector,
} from '../../src/oci/reference.js';
import { parseLayoutReference } from '../../src/oci/session.js';
import { isMeshwasmError } from '../../src/errors.js';

const DIGEST = `sha256:${'a'.repeat(64)}`;

describe('parseReference', () => {
  it.each([
    [
      'acree-1-registry.cn-hangzhou.cr.aliyuncs.com/asm/asm-test:v0.1',
      'acree-1-registry.cn-hangzhou.cr.aliyuncs.com',
      'asm/asm-test',
      'v0.1',
      undefined,
    ],
    ['127.0.0.1:5000/filters/header', '127.0.0.1:5000', 'filters/header', undefined, undefined],
    ['localhost/x:1', 'localhost', 'x', '1', undefined],
    ['[::1]:5000/a/b:c', '[::1]:5000', 'a/b', 'c', undefined],
    ['[fe80::1%eth0]/a', '[fe80::1%eth0]', 'a', undefined, undefined],
    ['nginx', 'docker.io', 'library/nginx', undefined, undefined],
    ['user/filter:v2', 'docker.io', 'user/filter', 'v2', undefined],
    ['index.docker.io/user/filter', 'docker.io', 'user/filter', undefined, undefined],
    [`reg.io/a/b:t@${DIGEST}`, 'reg.io', 'a/b', 't', DIGEST],
    [`reg.io/a__b/c-d.e@${DIGEST}`, 'reg.io', 'a__b/c-d.e', undefined, DIGEST],
  ])('%s', (input, registry, repository, tag, digest) => {
    const ref = parseReference(input);
    expect(ref).toEqual({ registry, repository, ...(tag ? { tag } : {}), ...(digest ? { digest } : {}) });
  });

  it.each([
    ['', 'empty'],
    ['reg.io/UPPER/x', 'lowercase'],
    ['reg.io//x', 'empty path component'],
    ['reg.io/x/', 'empty path component'],
    ['reg.io/x:-bad', 'not a valid tag'],
    ['reg.io/x@sha256:abc', 'not a digest'],
    ['reg.io:99999/x', 'not a valid port'],
    ['[::1/x', 'unterminated IPv6'],
    ['reg.io/a b', 'whitespace'],
    ['reg.io/a..b', 'lowercase letters and digits'],
    [`reg.io/${'a'.repeat(260)}`, '255'],
  ])('rejects %j with a clear error', (input, why) => {
    try {
      parseReference(input);
      expect.unreachable();
    } catch (err) {
      expect(isMeshwasmError(err, 'INVALID_REFERENCE')).toBe(true);
      expect((err as Error).message).toContain(why);
      expect((err as Error).message).toContain(`"${input}"`);
    }
  });

  it('formats, pins and selects', () => {
    const ref = parseReference('reg.io/a/b:v1');
    expect(formatReference(ref)).toBe('reg.io/a/b:v1');
    expect(pinnedReference(ref, DIGEST)).toBe(`reg.io/a/b@${DIGEST}`);
    expect(referenceSelector(ref)).toBe('v1');
    expect(referenceSelector(parseReference('reg.io/a'))).toBe('latest');
    expect(referenceSelector(parseReference(`reg.io/a:v1@${DIGEST}`))).toBe(DIGEST);
  });
});

describe('parseLayoutReference (ORAS --oci-layout form)', () => {
  it.each([
    ['./store', './store', 'latest'],
    ['./store:v1', './store', 'v1'],
    [`/tmp/x@${DIGEST}`, '/tmp/x', DIGEST],
    ['/tmp/a:b/store', '/tmp/a:b/store', 'latest'],
  ])('%s', (input, dir, selector) => {
    expect(parseLayoutReference(input)).toEqual({ dir, selector });
  });
  it('rejects a bad digest and a bad tag', () => {
    expect(() => parseLayoutReference('./x@sha256:zz')).toThrow(/not a digest/);
    expect(() => parseLayoutReference('./x:-t')).toThrow(/not a valid tag/);
  });
});

describe('parseAnyReference (registry or oci-layout: references in one list)', () => {
  it('reads tags and digests of both forms', async () => {
    const { parseAnyReference } = await import('../../src/oci/session.js');
    expect(parseAnyReference(`reg.io/a:v1@${DIGEST}`)).toEqual({ tag: 'v1', digest: DIGEST });
    expect(parseAnyReference('reg.io/a')).toEqual({ tag: undefined, digest: undefined });
    expect(parseAnyReference(`oci-layout:/var/store@${DIGEST}`)).toEqual({ digest: DIGEST });
    expect(parseAnyReference('oci-layout:./store:v2')).toEqual({ tag: 'v2' });
    expect(() => parseAnyReference('oci-layout:./store@sha256:nope')).toThrow(/not a digest/);
  });
});
