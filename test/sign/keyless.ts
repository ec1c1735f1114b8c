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
import { bundleToJSON } from '@sigstore/bundle';
import {
  DSSEBundleBuilder,
  FulcioSigner,
  MessageSignatureBundleBuilder,
  RekorWitness,
  type Bundle,
} from '@sigstore/sign';

const FULCIO = 'https://fulcio.meshwasm.test';
const REKOR = 'https://rekor.meshwasm.test';

const ecKeys = () => generateKeyPairSync('ec', { namedCurve: 'prime256v1' });

export interface KeylessSigstore {
  /** trusted root JSON for the CA and logs below */
  trustedRoot: string;
  /** signs `statement` (an in-toto statement) as `subject` from `issuer` */
  sign(statement: Buffer, subject: string, issuer: string): Promise<Bundle>;
  /**
   * Signs `payload` (a simple-signing payload) as `cosign sign` does keylessly without a bundle: the
   * signature and the layer annotations cosign writes in the `.sig` tag (certificate, Rekor bundle).
   */
  signCosignKeyless(
    payload: Buffer,
    subject: string,
    issuer: string,
  ): Promise<{ signature: string; annotations: Record<string, string> }>;
}

const pem = (der: string) =>
  `-----BEGIN CERTIFICATE-----\n${der.match(/.{1,64}/g)!.join('\n')}\n-----END CERTIFICATE-----\n`;

/**
 * cosign's layer annotations for a keyless signature, from the same material as a message-signature
 * bundle: the Fulcio leaf as PEM, and the Rekor entry as cosign's RekorBundle JSON (the signed entry
 * timestamp; the entry's base64 body, integrated time and index as numbers, the log ID in hex).
 */
function cosignAnnotations(bundle: Bundle): { signature: string; annotations: Record<string, string> } {
  const json = bundleToJSON(bundle) as unknown as {
    verificationMaterial: {
      // message-signature bundles from @sigstore/sign carry a chain (v0.2), DSSE ones a certificate
      certificate?: { rawBytes: string };
      x509CertificateChain?: { certificates: { rawBytes: string }[] };
      tlogEntries: {
        logIndex: string;
        logId: { keyId: string };
        integratedTime: string;
        inclusionPromise: { signedEntryTimestamp: string };
        canonicalizedBody: string;
      }[];
    };
    messageSignature: { signature: string };
  };
  const material = json.verificationMaterial;
  const entry = material.tlogEntries[0]!;
  const leaf = material.certificate ?? material.x509CertificateChain!.certificates[0]!;
  return {
    signature: json.messageSignature.signature,
    annotations: {
      'dev.sigstore.cosign/certificate': pem(leaf.rawBytes),
      'dev.sigstore.cosign/bundle': JSON.stringify({
        SignedEntryTimestamp: entry.inclusionPromise.signedEntryTimestamp,
        Payload: {
          body: entry.canonicalizedBody,
          integratedTime: Number(entry.integratedTime),
          logIndex: Number(entry.logIndex),
          logID: Buffer.from(entry.logId.keyId, 'base64').toString('hex'),
        },
      }),
    },
  };
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
  /** The mock Fulcio and Rekor answer one signing, in this process only. */
  const withMockServices = async <T>(fn: () => Promise<T>): Promise<T> => {
    nock(FULCIO).post(fulcio.path).reply(adapt(fulcio.fn));
    nock(REKOR).post(rekor.path).reply(adapt(rekor.fn));
    try {
      return await fn();
    } finally {
      nock.cleanAll();
    }
  };
  const signer = (subject: string, issuer: string) =>
    new FulcioSigner({
      fulcioBaseURL: FULCIO,
      identityProvider: { getToken: async () => fakeToken(subject, issuer) },
    });
  return {
    trustedRoot: JSON.stringify(root, null, 2),
    sign: (statement, subject, issuer) =>
      withMockServices(() =>
        new DSSEBundleBuilder({
          signer: signer(subject, issuer),
          witnesses: [new RekorWitness({ rekorBaseURL: REKOR, entryType: 'intoto' })],
        }).create({ data: statement, type: 'application/vnd.in-toto+json' }),
      ),
    signCosignKeyless: async (payload, subject, issuer) =>
      cosignAnnotations(
        await withMockServices(() =>
          new MessageSignatureBundleBuilder({
            signer: signer(subject, issuer),
            witnesses: [new RekorWitness({ rekorBaseURL: REKOR })],
          }).create({ data: payload }),
        ),
      ),
  };
}
