/**
 * Keyless (Fulcio + Rekor) signing offline, with Sigstore's own test doubles: @sigstore/mock's CA,
 * CT log and transparency log answer @sigstore/sign's FulcioSigner and RekorWitness through nock
 * (in this process only), and the same CA and logs are written out as a trusted root JSON file, which
 * is what `meshwasm verify --trusted-root` reads (nothing on the verifying side is mocked).
 */
import { createHash, generateKeyPairSync } from 'node:crypto';
import nock from 'nock';
import { fulcioHandler, initializeCA, initializeCTLog, initializeTLog, rekorHandler } from '@sigstore/mock';
import { HashAlgorithm, PublicKeyDetails, TrustedRoot } from '@sigstore/protobuf-specs';
import { DSSEBundleBuilder, FulcioSigner, RekorWitness, type Bundle } from '@sigstore/sign';

const FULCIO = 'https://fulcio.meshwasm.test';
const REKOR = 'https://rekor.meshwasm.test';

const ecKeys = () => generateKeyPairSync('ec', { namedCurve: 'prime256v1' });

export interface KeylessSigstore {
  /** trusted root JSON for the CA and logs below */
  trustedRoot: string;
  /** signs `statement` (an in-toto statement) as `subject` from `issuer` */
  sign(statement: Buffer, subject: string, issuer: string): Promise<Bundle>;
}

/** An unsigned JWT: the mock Fulcio reads claims without checking a signature (it is not an IdP). */
function fakeToken(subject: string, issuer: string): string {
  const part = (o: object) => Buffer.from(JSON.stringify(o)).toString('base64url');
  const now = Math.floor(Date.now() / 1000);
  return `${part({ alg: 'none', typ: 'JWT' })}.${part({ iss: issuer, sub: subject, email: subject, email_verified: true, aud: 'sigstore', iat: now, exp: now + 600 })}.`;
}

export async function startKeylessSigstore(): Promise<KeylessSigstore> {
  const ctlog = await initializeCTLog(ecKeys());
  const ca = await initializeCA(ecKeys(), ctlog);
  const tlog = await initializeTLog(REKOR, ecKeys());
  const start = new Date(Date.now() - 3600_000);
  const root = TrustedRoot.toJSON({
    mediaType: 'application/vnd.dev.sigstore.trustedroot+json;version=0.1',
    tlogs: [
      {
        baseUrl: REKOR,
        hashAlgorithm: HashAlgorithm.SHA2_256,
        publicKey: {
          rawBytes: tlog.publicKey,
          keyDetails: PublicKeyDetails.PKIX_ECDSA_P256_SHA_256,
          validFor: { start },
        },
        logId: { keyId: createHash('sha256').update(tlog.publicKey).digest() },
      },
    ],
    certificateAuthorities: [
      {
        subject: { organization: 'sigstore.mock', commonName: 'sigstore' },
        uri: FULCIO,
        certChain: { certificates: [{ rawBytes: Buffer.from(ca.rootCertificate.buffer) }] },
        validFor: { start },
      },
    ],
    ctlogs: [
      {
        baseUrl: 'https://ctfe.meshwasm.test',
        hashAlgorithm: HashAlgorithm.SHA2_256,
        publicKey: {
          rawBytes: ctlog.publicKey,
          keyDetails: PublicKeyDetails.PKIX_ECDSA_P256_SHA_256,
          validFor: { start },
        },
        logId: { keyId: Buffer.from(ctlog.logID.buffer) },
      },
    ],
    timestampAuthorities: [],
  } as unknown as TrustedRoot);

  const fulcio = fulcioHandler(ca);
  const rekor = rekorHandler(tlog);
  return {
    trustedRoot: JSON.stringify(root, null, 2),
    async sign(statement, subject, issuer) {
      const adapt = (fn: typeof fulcio.fn) => async (_uri: string, body: unknown) => {
        const { statusCode, response, contentType } = await fn(
          typeof body === 'string' ? body : JSON.stringify(body),
        );
        return [statusCode, response, { 'content-type': contentType ?? 'text/plain' }] as [
          number,
          unknown,
          Record<string, string>,
        ];
      };
      nock(FULCIO).post(fulcio.path).reply(adapt(fulcio.fn));
      nock(REKOR).post(rekor.path).reply(adapt(rekor.fn));
      const builder = new DSSEBundleBuilder({
        signer: new FulcioSigner({
          fulcioBaseURL: FULCIO,
          identityProvider: { getToken: async () => fakeToken(subject, issuer) },
        }),
        witnesses: [new RekorWitness({ rekorBaseURL: REKOR, entryType: 'intoto' })],
      });
      try {
        return await builder.create({ data: statement, type: 'application/vnd.in-toto+json' });
      } finally {
        nock.cleanAll();
      }
    },
  };
}
