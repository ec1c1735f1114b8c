import { generateKeyPairSync, sign, verify } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import {
  encryptPrivateKey,
  generateKeyPair,
  parsePolicy,
  parsePrivateKey,
  parsePublicKey,
} from '../../src/sign/index.js';

const password = (value: string) => async () => value;

describe('cosign key formats', () => {
  it('an encrypted key written by generateKeyPair opens with its password and matches its public key', async () => {
    const pair = generateKeyPair('s3cret');
    expect(pair.privateKeyPem).toMatch(/^-----BEGIN ENCRYPTED SIGSTORE PRIVATE KEY-----\n/);
    const key = await parsePrivateKey(pair.privateKeyPem, 'cosign.key', password('s3cret'));
    const pub = parsePublicKey(pair.publicKeyPem, 'cosign.pub');
    const sig = sign('sha256', Buffer.from('payload'), key);
    expect(verify('sha256', Buffer.from('payload'), pub.key, sig)).toBe(true);
    await expect(parsePrivateKey(pair.privateKeyPem, 'cosign.key', password('wrong'))).rejects.toThrow(
      'cosign.key: wrong password',
    );
  });

  it('asks for the password only for encrypted keys', async () => {
    const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
    const pem = privateKey.export({ type: 'sec1', format: 'pem' }) as string;
    const never = async () => {
      throw new Error('asked');
    };
    await expect(parsePrivateKey(pem, 'ec.key', never)).resolves.toBeDefined();
  });

  it('refuses hostile or broken encrypted keys with a clear error and without running scrypt on them', async () => {
    const pem = encryptPrivateKey(generateKeyPairSync('ec', { namedCurve: 'prime256v1' }).privateKey, 'pw');
    const body = JSON.parse(Buffer.from(pem.split('\n').slice(1, -2).join(''), 'base64').toString()) as {
      kdf: { params: { N: number } };
      ciphertext: string;
    };
    const rewrap = (doc: unknown) =>
      `-----BEGIN ENCRYPTED SIGSTORE PRIVATE KEY-----\n${Buffer.from(JSON.stringify(doc)).toString('base64')}\n-----END ENCRYPTED SIGSTORE PRIVATE KEY-----\n`;
    await expect(
      parsePrivateKey(
        rewrap({ ...body, kdf: { ...body.kdf, params: { N: 2 ** 30, r: 8, p: 1 } } }),
        'k',
        password('pw'),
      ),
    ).rejects.toThrow('scrypt parameters N=1073741824 r=8 p=1 are out of range');
    const flipped = Buffer.from(body.ciphertext, 'base64');
    flipped[5] = flipped[5]! ^ 1;
    await expect(
      parsePrivateKey(rewrap({ ...body, ciphertext: flipped.toString('base64') }), 'k', password('pw')),
    ).rejects.toThrow('k: wrong password');
    await expect(parsePrivateKey('not a key', 'k', password('pw'))).rejects.toThrow('k: no PEM block found');
  });
});

describe('verification policy', () => {
  const pub = generateKeyPair('x').publicKeyPem;
  it('reads keys inline and names them', () => {
    const policy = parsePolicy(
      `keys:\n  - name: release\n    publicKey: |\n${pub
        .trim()
        .split('\n')
        .map((l) => `      ${l}`)
        .join('\n')}\n`,
      'policy p.yaml',
      '/',
    );
    expect(policy.keys.map((k) => k.name)).toEqual(['release']);
  });
  it.each([
    ['{}', 'names no signer'],
    ['keys: 3', 'keys: must be a list'],
    ['keyz: []', 'unknown field "keyz"'],
    ['identities:\n  - issuer: https://i\n    subject: a', 'need a "trustedRoot"'],
    ['identities:\n  - subject: a', 'identities[0]: "issuer" is required'],
    ['identities:\n  - issuer: i\n    subjectRegExp: "("', 'subjectRegExp is not a regular expression'],
    ['keys:\n  - file: missing.pub', 'cannot read public key'],
  ])('%j is refused: %s', (text, message) => {
    expect(() => parsePolicy(text, 'policy p.yaml', '/nonexistent')).toThrow(message);
  });
});
