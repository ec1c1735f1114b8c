/**
 * ECDSA P-256 keys in the PEM forms cosign reads and writes:
 * - public keys: PKIX `PUBLIC KEY` (what `cosign generate-key-pair` writes to cosign.pub);
 * - private keys: `ENCRYPTED SIGSTORE PRIVATE KEY` (cosign 2.x) or `ENCRYPTED COSIGN PRIVATE KEY` (older),
 *   whose body is JSON {kdf: scrypt N/r/p + salt, cipher: nacl/secretbox + nonce, ciphertext} over the
 *   PKCS#8 DER (go-securesystemslib's `encrypted` package); and the plain `PRIVATE KEY` (PKCS#8) and
 *   `EC PRIVATE KEY` (SEC 1) forms that `cosign import-key-pair` and openssl use.
 * Node's crypto does scrypt and ECDSA; tweetnacl does XSalsa20-Poly1305 (secretbox), which Node lacks.
 */
import {
  createHash,
  createPrivateKey,
  createPublicKey,
  generateKeyPairSync,
  randomBytes,
  scryptSync,
  type KeyObject,
} from 'node:crypto';
import nacl from 'tweetnacl';
import { MeshwasmError } from '../errors.js';

export const ENCRYPTED_SIGSTORE_KEY = 'ENCRYPTED SIGSTORE PRIVATE KEY';
export const ENCRYPTED_COSIGN_KEY = 'ENCRYPTED COSIGN PRIVATE KEY';

/** scrypt parameters cosign uses (go-securesystemslib's "legacy" strength, what cosign writes). */
const SCRYPT = { N: 32768, r: 8, p: 1 };

export interface PemBlock {
  label: string;
  der: Buffer;
}

/** The first PEM block of `text`; throws a clear error naming `where` if there is none. */
export function readPem(text: string, where: string): PemBlock {
  const match = /-----BEGIN ([A-Z0-9 ]+)-----\r?\n([\s\S]*?)-----END \1-----/.exec(text);
  if (!match) {
    throw new MeshwasmError('INVALID_INPUT', `${where}: no PEM block found`, {
      hint: 'expected a key as `cosign generate-key-pair` writes it (-----BEGIN PUBLIC KEY----- ...)',
    });
  }
  const body = match[2]!
    .split(/\r?\n/)
    .filter((line) => line !== '' && !line.includes(':')) // skip RFC 1421 headers if any
    .join('');
  return { label: match[1]!, der: Buffer.from(body, 'base64') };
}

export function writePem(label: string, der: Buffer): string {
  const lines = der.toString('base64').match(/.{1,64}/g) ?? [];
  return `-----BEGIN ${label}-----\n${lines.join('\n')}\n-----END ${label}-----\n`;
}

/** A verification key with a stable id for messages: `sha256:<first 16 hex of the SPKI digest>`. */
export interface PublicKey {
  key: KeyObject;
  /** sha256 of the DER SubjectPublicKeyInfo, hex; also the Sigstore bundle `publicKey.hint` basis */
  fingerprint: string;
  /** what the user calls it: a file name or a policy entry name */
  name: string;
}

export function publicKeyFromObject(key: KeyObject, name: string): PublicKey {
  const der = key.export({ type: 'spki', format: 'der' });
  return { key, name, fingerprint: createHash('sha256').update(der).digest('hex') };
}

export function describeKey(key: PublicKey): string {
  return `key ${key.name} (sha256:${key.fingerprint.slice(0, 16)})`;
}

function assertP256(key: KeyObject, where: string): void {
  if (key.asymmetricKeyType !== 'ec' || key.asymmetricKeyDetails?.namedCurve !== 'prime256v1') {
    const what =
      key.asymmetricKeyType === 'ec'
        ? `an EC key on ${key.asymmetricKeyDetails?.namedCurve ?? 'an unknown curve'}`
        : `a ${key.asymmetricKeyType ?? 'unknown'} key`;
    throw new MeshwasmError('INVALID_INPUT', `${where}: ${what}; only ECDSA P-256 keys are supported`, {
      hint: 'create a key pair with `cosign generate-key-pair` (ECDSA P-256)',
    });
  }
}

/** Parses a PEM `PUBLIC KEY` (PKIX), as cosign.pub holds it. */
export function parsePublicKey(text: string, name: string): PublicKey {
  const block = readPem(text, name);
  if (block.label !== 'PUBLIC KEY') {
    throw new MeshwasmError(
      'INVALID_INPUT',
      `${name}: a "${block.label}" PEM block is not a public key (expected "PUBLIC KEY")`,
      { hint: 'pass the public half (cosign.pub) to verify and to policies, the private one only to sign' },
    );
  }
  let key: KeyObject;
  try {
    key = createPublicKey({ key: block.der, format: 'der', type: 'spki' });
  } catch (err) {
    throw new MeshwasmError(
      'INVALID_INPUT',
      `${name}: the public key cannot be read (${(err as Error).message})`,
    );
  }
  assertP256(key, name);
  return publicKeyFromObject(key, name);
}

/** Asks for the password of an encrypted key (COSIGN_PASSWORD, a prompt, ...), only when one is needed. */
export type PasswordSource = () => Promise<string>;

/** Parses a cosign private key; encrypted ones are opened with the password `password` supplies. */
export async function parsePrivateKey(
  text: string,
  name: string,
  password: PasswordSource,
): Promise<KeyObject> {
  const block = readPem(text, name);
  let key: KeyObject;
  switch (block.label) {
    case ENCRYPTED_SIGSTORE_KEY:
    case ENCRYPTED_COSIGN_KEY:
      key = decryptCosignKey(block.der, await password(), name);
      break;
    case 'PRIVATE KEY':
    case 'EC PRIVATE KEY':
      try {
        key = createPrivateKey({
          key: block.der,
          format: 'der',
          type: block.label === 'PRIVATE KEY' ? 'pkcs8' : 'sec1',
        });
      } catch (err) {
        throw new MeshwasmError(
          'INVALID_INPUT',
          `${name}: the private key cannot be read (${(err as Error).message})`,
        );
      }
      break;
    default:
      throw new MeshwasmError(
        'INVALID_INPUT',
        `${name}: a "${block.label}" PEM block is not a private key cosign writes`,
        {
          hint: `expected "${ENCRYPTED_SIGSTORE_KEY}" (cosign.key), "PRIVATE KEY" or "EC PRIVATE KEY"`,
        },
      );
  }
  assertP256(key, name);
  return key;
}

interface Envelope {
  kdf?: { name?: string; params?: { N?: number; r?: number; p?: number }; salt?: string };
  cipher?: { name?: string; nonce?: string };
  ciphertext?: string;
}

function decryptCosignKey(der: Buffer, password: string, name: string): KeyObject {
  let env: Envelope;
  try {
    env = JSON.parse(der.toString('utf8')) as Envelope;
  } catch {
    throw new MeshwasmError(
      'INVALID_INPUT',
      `${name}: the encrypted key's body is not the JSON cosign writes`,
    );
  }
  const { N, r, p } = env.kdf?.params ?? {};
  if (env.kdf?.name !== 'scrypt' || env.cipher?.name !== 'nacl/secretbox') {
    throw new MeshwasmError(
      'INVALID_INPUT',
      `${name}: unsupported key encryption (${env.kdf?.name ?? '?'} / ${env.cipher?.name ?? '?'}); cosign uses scrypt / nacl/secretbox`,
    );
  }
  const salt = Buffer.from(env.kdf.salt ?? '', 'base64');
  const nonce = Buffer.from(env.cipher.nonce ?? '', 'base64');
  const sealed = Buffer.from(env.ciphertext ?? '', 'base64');
  const validCost = (n: unknown, max: number): n is number =>
    typeof n === 'number' && Number.isSafeInteger(n) && n > 0 && n <= max;
  // Bounds keep a hostile key file from asking for gigabytes of scrypt memory.
  if (!validCost(N, 1 << 20) || (N & (N - 1)) !== 0 || !validCost(r, 32) || !validCost(p, 16)) {
    throw new MeshwasmError(
      'INVALID_INPUT',
      `${name}: scrypt parameters N=${N} r=${r} p=${p} are out of range`,
    );
  }
  if (
    nonce.length !== nacl.secretbox.nonceLength ||
    salt.length === 0 ||
    sealed.length <= nacl.secretbox.overheadLength
  ) {
    throw new MeshwasmError(
      'INVALID_INPUT',
      `${name}: the encrypted key is truncated (salt, nonce or ciphertext)`,
    );
  }
  const boxKey = scryptSync(Buffer.from(password, 'utf8'), salt, nacl.secretbox.keyLength, {
    N,
    r,
    p,
    maxmem: 256 * N * r + 1024 * 1024,
  });
  const opened = nacl.secretbox.open(sealed, nonce, boxKey);
  if (!opened) {
    throw new MeshwasmError('INVALID_INPUT', `${name}: wrong password for the encrypted key`, {
      hint: 'set COSIGN_PASSWORD to the password the key was created with',
    });
  }
  try {
    return createPrivateKey({ key: Buffer.from(opened), format: 'der', type: 'pkcs8' });
  } catch (err) {
    throw new MeshwasmError(
      'INVALID_INPUT',
      `${name}: the decrypted key is not PKCS#8 (${(err as Error).message})`,
    );
  }
}

/** Encrypts a private key as cosign does (PEM "ENCRYPTED SIGSTORE PRIVATE KEY"). */
export function encryptPrivateKey(key: KeyObject, password: string): string {
  const pkcs8 = key.export({ type: 'pkcs8', format: 'der' });
  const salt = randomBytes(32);
  const nonce = randomBytes(nacl.secretbox.nonceLength);
  const boxKey = scryptSync(Buffer.from(password, 'utf8'), salt, nacl.secretbox.keyLength, {
    ...SCRYPT,
    maxmem: 256 * SCRYPT.N * SCRYPT.r + 1024 * 1024,
  });
  const sealed = nacl.secretbox(pkcs8, nonce, boxKey);
  const envelope = {
    kdf: { name: 'scrypt', params: SCRYPT, salt: salt.toString('base64') },
    cipher: { name: 'nacl/secretbox', nonce: nonce.toString('base64') },
    ciphertext: Buffer.from(sealed).toString('base64'),
  };
  return writePem(ENCRYPTED_SIGSTORE_KEY, Buffer.from(JSON.stringify(envelope)));
}

/** A new ECDSA P-256 key pair as `cosign generate-key-pair` writes it: cosign.key (encrypted), cosign.pub. */
export function generateKeyPair(password: string): { privateKeyPem: string; publicKeyPem: string } {
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
  return {
    privateKeyPem: encryptPrivateKey(privateKey, password),
    publicKeyPem: writePem('PUBLIC KEY', publicKey.export({ type: 'spki', format: 'der' })),
  };
}
