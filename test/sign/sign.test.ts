/**
 * Signing and verification through the CLI (real processes) against Debian's docker-registry
 * (distribution 2.8: no referrers API, so bundles use the tag-schema fallback), and through a labelled
 * shim that adds the referrers API in front of the same registry. Keys are made here as cosign lays
 * them out, and signatures are also made here without meshwasm's code, as cosign would write them.
 */
import { execFile } from 'node:child_process';
import { createPublicKey, generateKeyPairSync, randomBytes, scryptSync, sign } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import nacl from 'tweetnacl';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { OciSession } from '../../src/oci/index.js';
import { attachBundle, signatureStatement } from '../../src/sign/index.js';
import { writeCosignSignature } from '../../src/sign/cosign-tag.js';
import { simpleSigningPayload } from '../../src/sign/simple-signing.js';
import { keyBundle } from '../../src/sign/bundles.js';
import { startReferrersShim, type ReferrersShim } from '../support/referrers-shim.js';
import { rawPushImage } from '../support/raw-push.js';
import { startRegistry, type TestRegistry } from '../support/registry.js';
import { moduleWithCustomSection } from '../support/wasm-fixtures.js';
import { startKeylessSigstore } from './keyless.js';

const BIN = new URL('../../bin/meshwasm.js', import.meta.url).pathname;
const work = mkdtempSync(join(tmpdir(), 'meshwasm-sign-'));
const PLAIN = ['--plain-http', '--registry-config', join(work, 'none.json')];

interface Run {
  code: number;
  stdout: string;
  stderr: string;
  json?: Record<string, unknown>;
}

async function meshwasm(args: string[], env: Record<string, string> = {}): Promise<Run> {
  try {
    const { stdout, stderr } = await promisify(execFile)(process.execPath, [BIN, ...args], {
      env: { ...process.env, COSIGN_PASSWORD: undefined, ...env },
      cwd: work,
    });
    let json: Record<string, unknown> | undefined;
    try {
      json = JSON.parse(stdout) as Record<string, unknown>;
    } catch {
      // text output
    }
    return { code: 0, stdout, stderr, json };
  } catch (err) {
    const e = err as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

/** cosign's key layout, written with node:crypto + tweetnacl here (not meshwasm's code). */
function cosignKeyPair(prefix: string, password: string, label = 'ENCRYPTED COSIGN PRIVATE KEY') {
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
  const salt = randomBytes(32);
  const nonce = randomBytes(24);
  const boxKey = scryptSync(password, salt, 32, { N: 32768, r: 8, p: 1, maxmem: 64 * 1024 * 1024 });
  const sealed = nacl.secretbox(privateKey.export({ type: 'pkcs8', format: 'der' }), nonce, boxKey);
  const body = JSON.stringify({
    kdf: { name: 'scrypt', params: { N: 32768, r: 8, p: 1 }, salt: salt.toString('base64') },
    cipher: { name: 'nacl/secretbox', nonce: nonce.toString('base64') },
    ciphertext: Buffer.from(sealed).toString('base64'),
  });
  const pem = (type: string, der: Buffer) =>
    `-----BEGIN ${type}-----\n${der
      .toString('base64')
      .match(/.{1,64}/g)!
      .join('\n')}\n-----END ${type}-----\n`;
  writeFileSync(join(work, `${prefix}.key`), pem(label, Buffer.from(body)), { mode: 0o600 });
  writeFileSync(join(work, `${prefix}.pub`), publicKey.export({ type: 'spki', format: 'pem' }) as string);
  return { privateKey, key: `${prefix}.key`, pub: `${prefix}.pub` };
}

async function pushModule(
  registry: { host: string },
  repo: string,
  tag: string,
  seed: string,
): Promise<string> {
  const file = join(work, `${seed}.wasm`);
  writeFileSync(file, moduleWithCustomSection(2048, seed));
  const out = await meshwasm(['push', `${registry.host}/${repo}:${tag}`, file, ...PLAIN, '--output', 'json']);
  expect(out.code, out.stderr).toBe(0);
  return out.json!.digest as string;
}

/** The `.sig` manifest as cosign pushes it, written with plain HTTP calls. */
async function rawSignature(
  registry: TestRegistry,
  repo: string,
  tagDigest: string,
  payload: Buffer,
  signature: Buffer,
) {
  const config = Buffer.from(
    JSON.stringify({ architecture: '', os: '', rootfs: { type: 'layers', diff_ids: [] }, config: {} }),
  );
  return rawPushImage(
    registry.url,
    repo,
    `${tagDigest.replace(':', '-')}.sig`,
    'application/vnd.oci.image.manifest.v1+json',
    { mediaType: 'application/vnd.oci.image.config.v1+json', bytes: config },
    [
      {
        mediaType: 'application/vnd.dev.cosign.simplesigning.v1+json',
        bytes: payload,
        annotations: { 'dev.cosignproject.cosign/signature': signature.toString('base64') },
      },
    ],
  );
}

function cosignPayload(reference: string, digest: string): Buffer {
  return Buffer.from(
    JSON.stringify({
      critical: {
        identity: { 'docker-reference': reference },
        image: { 'docker-manifest-digest': digest },
        type: 'cosign container image signature',
      },
      optional: null,
    }),
  );
}

describe('meshwasm sign / verify against a registry without the referrers API', () => {
  let registry: TestRegistry;
  beforeAll(async () => {
    registry = await startRegistry();
  });
  afterAll(async () => registry.destroy());

  it('generate-key-pair, sign and verify: the cosign signature tag, then the bundle referrer on its own', async () => {
    const digest = await pushModule(registry, 'f/ours', 'v1', 'ours');
    const gen = await meshwasm(['generate-key-pair', '--output-key-prefix', 'ours'], {
      COSIGN_PASSWORD: 'pw-1',
    });
    expect(gen.code, gen.stderr).toBe(0);
    const ref = `${registry.host}/f/ours:v1`;

    const before = await meshwasm(['verify', ref, '--key', 'ours.pub', ...PLAIN]);
    expect(before.code).toBe(1);
    expect(before.stderr).toContain('no signature found');
    expect(before.stderr).toContain('key ours.pub');

    const signed = await meshwasm(
      ['sign', ref, '--key', 'ours.key', '--bundle', ...PLAIN, '--output', 'json'],
      {
        COSIGN_PASSWORD: 'pw-1',
      },
    );
    expect(signed.code, signed.stderr).toBe(0);
    expect(signed.json).toMatchObject({
      digest,
      signatureTag: `${digest.replace(':', '-')}.sig`,
      bundle: { referrers: 'tag-schema' },
    });

    const ok = await meshwasm(['verify', ref, '--key', 'ours.pub', ...PLAIN, '--output', 'json']);
    expect(ok.code, ok.stderr).toBe(0);
    expect(ok.json).toMatchObject({ verified: true, digest, via: 'cosign-signature-tag' });
    expect(ok.json!.signer).toContain('ours.pub');

    // Remove the cosign signature manifest: the Sigstore bundle (found through the tag schema) suffices.
    const sigManifest = signed.json!.signatureManifest as string;
    const del = await fetch(`${registry.url}/v2/f/ours/manifests/${sigManifest}`, { method: 'DELETE' });
    expect(del.status).toBe(202);
    const viaBundle = await meshwasm(['verify', ref, '--key', 'ours.pub', ...PLAIN, '--output', 'json']);
    expect(viaBundle.code, viaBundle.stderr).toBe(0);
    expect(viaBundle.json).toMatchObject({ via: 'sigstore-bundle', referrers: 'tag-schema' });
    // distribution 2.8 has no referrers API (the fallback is what ran): it answers 404.
    expect((await fetch(`${registry.url}/v2/f/ours/referrers/${digest}`)).status).toBe(404);
  });

  it('signs with a key laid out as cosign lays it out, and accepts a signature made the way cosign makes it', async () => {
    const digest = await pushModule(registry, 'f/cosign', 'v1', 'cosign-layout');
    const ref = `${registry.host}/f/cosign:v1`;
    const legacy = cosignKeyPair('legacy', 'correct horse', 'ENCRYPTED COSIGN PRIVATE KEY');

    const wrongPassword = await meshwasm(['sign', ref, '--key', legacy.key, ...PLAIN], {
      COSIGN_PASSWORD: 'nope',
    });
    expect(wrongPassword.code).toBe(1);
    expect(wrongPassword.stderr).toContain('wrong password');
    const noPassword = await meshwasm(['sign', ref, '--key', legacy.key, ...PLAIN]);
    expect(noPassword.stderr).toContain('COSIGN_PASSWORD is not set');
    // Nothing was pushed by the failed attempts.
    expect(
      (await fetch(`${registry.url}/v2/f/cosign/manifests/${digest.replace(':', '-')}.sig`)).status,
    ).toBe(404);

    const signed = await meshwasm(['sign', ref, '--key', legacy.key, ...PLAIN], {
      COSIGN_PASSWORD: 'correct horse',
    });
    expect(signed.code, signed.stderr).toBe(0);
    expect((await meshwasm(['verify', ref, '--key', legacy.pub, ...PLAIN])).code).toBe(0);

    // A signature made outside meshwasm (ECDSA over the simple-signing payload, pushed with plain HTTP).
    const other = await pushModule(registry, 'f/cosign', 'v2', 'cosign-made');
    const foreign = cosignKeyPair('foreign', 'pw', 'ENCRYPTED SIGSTORE PRIVATE KEY');
    const payload = cosignPayload(`${registry.host}/f/cosign`, other);
    await rawSignature(registry, 'f/cosign', other, payload, sign('sha256', payload, foreign.privateKey));
    const accepted = await meshwasm([
      'verify',
      `${registry.host}/f/cosign:v2`,
      '--key',
      foreign.pub,
      ...PLAIN,
    ]);
    expect(accepted.code, accepted.stderr).toBe(0);
    expect(accepted.stdout).toContain(`Verified ${registry.host}/f/cosign@${other}`);
    // PKCS#8 "PRIVATE KEY" (cosign import-key-pair's input) signs too.
    writeFileSync(
      join(work, 'plain.key'),
      foreign.privateKey.export({ type: 'pkcs8', format: 'pem' }) as string,
    );
    expect(
      (await meshwasm(['sign', `${registry.host}/f/cosign:v2`, '--key', 'plain.key', ...PLAIN])).code,
    ).toBe(0);
  });

  it('refuses a wrong key, a tampered payload, a signature for another digest and a re-pushed tag', async () => {
    const alice = cosignKeyPair('alice', 'a');
    const mallory = cosignKeyPair('mallory', 'm');
    const digest = await pushModule(registry, 'f/bad', 'v1', 'bad-1');
    const ref = `${registry.host}/f/bad:v1`;
    expect((await meshwasm(['sign', ref, '--key', alice.key, ...PLAIN], { COSIGN_PASSWORD: 'a' })).code).toBe(
      0,
    );

    const wrongKey = await meshwasm(['verify', ref, '--key', mallory.pub, ...PLAIN]);
    expect(wrongKey.code).toBe(1);
    expect(wrongKey.stderr).toMatch(
      /not signed by any trusted signer \(tried key mallory\.pub \(sha256:[0-9a-f]{16}\)\)/,
    );
    expect(wrongKey.stderr).toContain('made by none of the keys');

    // Tampered payload: the signature of one payload, attached to another (the digest changed inside).
    const other = await pushModule(registry, 'f/bad', 'v2', 'bad-2');
    const genuine = cosignPayload(`${registry.host}/f/bad`, digest);
    const tampered = cosignPayload(`${registry.host}/f/bad`, other);
    await rawSignature(registry, 'f/bad', other, tampered, sign('sha256', genuine, alice.privateKey));
    const tamperedRun = await meshwasm(['verify', `${registry.host}/f/bad:v2`, '--key', alice.pub, ...PLAIN]);
    expect(tamperedRun.code).toBe(1);
    expect(tamperedRun.stderr).toContain('made by none of the keys');

    // A genuine signature for digest 1 copied under digest 2's .sig tag.
    await rawSignature(registry, 'f/bad', other, genuine, sign('sha256', genuine, alice.privateKey));
    const replayed = await meshwasm(['verify', `${registry.host}/f/bad:v2`, '--key', alice.pub, ...PLAIN]);
    expect(replayed.code).toBe(1);
    expect(replayed.stderr).toContain(`is for another image, ${digest}`);

    // Re-pushed tag: v1 now names unsigned content; the signed digest still verifies by digest.
    const repushed = await pushModule(registry, 'f/bad', 'v1', 'bad-3');
    expect(repushed).not.toBe(digest);
    const moved = await meshwasm(['verify', ref, '--key', alice.pub, ...PLAIN]);
    expect(moved.code).toBe(1);
    expect(moved.stderr).toContain(repushed);
    expect(
      (await meshwasm(['verify', `${registry.host}/f/bad@${digest}`, '--key', alice.pub, ...PLAIN])).code,
    ).toBe(0);
  });

  it('a signature made for another repository is refused unless the policy says dockerReference: ignore', async () => {
    const alice = cosignKeyPair('alice-repo', 'a');
    // The same module in two repositories (one digest): signed as the test filter, copied to prod.
    const digest = await pushModule(registry, 'f/test-filter', 'v1', 'copied');
    expect(await pushModule(registry, 'f/prod-filter', 'v1', 'copied')).toBe(digest);
    const payload = cosignPayload(`${registry.host}/f/test-filter`, digest);
    const signature = sign('sha256', payload, alice.privateKey);
    await rawSignature(registry, 'f/test-filter', digest, payload, signature);
    await rawSignature(registry, 'f/prod-filter', digest, payload, signature);

    const home = await meshwasm([
      'verify',
      `${registry.host}/f/test-filter:v1`,
      '--key',
      alice.pub,
      ...PLAIN,
    ]);
    expect(home.code, home.stderr).toBe(0);
    const copied = await meshwasm([
      'verify',
      `${registry.host}/f/prod-filter:v1`,
      '--key',
      alice.pub,
      ...PLAIN,
    ]);
    expect(copied.code).toBe(1);
    expect(copied.stderr).toContain(
      `it was made for "${registry.host}/f/test-filter", not for ${registry.host}/f/prod-filter`,
    );
    expect(copied.stderr).toContain('dockerReference: ignore');
    const ignored = await meshwasm([
      'verify',
      `${registry.host}/f/prod-filter:v1`,
      '--key',
      alice.pub,
      '--docker-reference',
      'ignore',
      ...PLAIN,
    ]);
    expect(ignored.code, ignored.stderr).toBe(0);

    // A Sigstore bundle copied along (its statement names the test repository) fares the same.
    const session = new OciSession({ plainHttp: true });
    try {
      const { target, selector } = await session.open(`${registry.host}/f/prod-filter:v1`);
      const publicDer = createPublicKey(alice.privateKey).export({ type: 'spki', format: 'der' });
      const statement = signatureStatement(`${registry.host}/f/test-filter`, digest);
      await attachBundle(
        target,
        await target.resolve(selector),
        keyBundle(statement, alice.privateKey, publicDer),
      );
    } finally {
      await session.close();
    }
    const withBundle = await meshwasm([
      'verify',
      `${registry.host}/f/prod-filter:v1`,
      '--key',
      alice.pub,
      ...PLAIN,
    ]);
    expect(withBundle.code).toBe(1);
    expect(withBundle.stderr).toMatch(
      new RegExp(`bundle sha256:[0-9a-f]+ signed by key .*it was made for "${registry.host}/f/test-filter"`),
    );

    // The same through a policy file, as the controller and the agents read it.
    writeFileSync(join(work, 'match.yaml'), `keys:\n  - file: ${alice.pub}\n`);
    writeFileSync(join(work, 'mirror.yaml'), `keys:\n  - file: ${alice.pub}\ndockerReference: ignore\n`);
    const prod = `${registry.host}/f/prod-filter:v1`;
    expect((await meshwasm(['verify', prod, '--policy', 'match.yaml', ...PLAIN])).code).toBe(1);
    expect((await meshwasm(['verify', prod, '--policy', 'mirror.yaml', ...PLAIN])).code).toBe(0);
    writeFileSync(join(work, 'typo.yaml'), `keys:\n  - file: ${alice.pub}\ndockerReference: loose\n`);
    const typo = await meshwasm(['verify', prod, '--policy', 'typo.yaml', ...PLAIN]);
    expect(typo.code).toBe(1);
    expect(typo.stderr).toContain('dockerReference: must be "match" or "ignore", not "loose"');
  });

  it('bad input: a missing key file, a private key given to verify, a key of another curve, a malformed policy', async () => {
    const ref = `${registry.host}/f/ours:v1`;
    const missing = await meshwasm(['verify', ref, '--key', 'nope.pub', ...PLAIN]);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toContain('cannot read public key nope.pub');
    cosignKeyPair('swap', 'x');
    const swapped = await meshwasm(['verify', ref, '--key', 'swap.key', ...PLAIN]);
    expect(swapped.stderr).toContain('is not a public key');
    const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'secp384r1' });
    writeFileSync(join(work, 'p384.key'), privateKey.export({ type: 'pkcs8', format: 'pem' }) as string);
    const curve = await meshwasm(['sign', ref, '--key', 'p384.key', ...PLAIN]);
    expect(curve.stderr).toContain('only ECDSA P-256 keys are supported');
    writeFileSync(join(work, 'policy.yaml'), 'keys:\n  - nmae: x\n');
    const policy = await meshwasm(['verify', ref, '--policy', 'policy.yaml', ...PLAIN]);
    expect(policy.stderr).toContain('keys[0]: needs "publicKey"');
    const none = await meshwasm(['verify', ref, ...PLAIN]);
    expect(none.code).toBe(2);
  });

  it('keyless: a Fulcio certificate and Rekor entry (@sigstore/mock), verified offline against a trusted root file', async () => {
    const sigstore = await startKeylessSigstore();
    writeFileSync(join(work, 'trusted_root.json'), sigstore.trustedRoot);
    const digest = await pushModule(registry, 'f/keyless', 'v1', 'keyless');
    const name = `${registry.host}/f/keyless`;
    const bundle = await sigstore.sign(
      signatureStatement(name, digest),
      'release@example.com',
      'https://issuer.example.com',
    );
    const session = new OciSession({ plainHttp: true });
    try {
      const { target, selector } = await session.open(`${name}:v1`);
      await attachBundle(target, await target.resolve(selector), bundle);
    } finally {
      await session.close();
    }
    const args = ['verify', `${name}:v1`, '--trusted-root', 'trusted_root.json', ...PLAIN];
    const ok = await meshwasm([
      ...args,
      '--certificate-identity',
      'release@example.com',
      '--certificate-oidc-issuer',
      'https://issuer.example.com',
      '--output',
      'json',
    ]);
    expect(ok.code, ok.stderr).toBe(0);
    expect(ok.json).toMatchObject({
      via: 'sigstore-bundle',
      signer: 'identity release@example.com from issuer https://issuer.example.com',
    });

    const wrongIdentity = await meshwasm([
      ...args,
      '--certificate-identity',
      'mallory@example.com',
      '--certificate-oidc-issuer',
      'https://issuer.example.com',
    ]);
    expect(wrongIdentity.code).toBe(1);
    expect(wrongIdentity.stderr).toContain(
      'identity mallory@example.com from issuer https://issuer.example.com',
    );
    const wrongIssuer = await meshwasm([
      ...args,
      '--certificate-identity',
      'release@example.com',
      '--certificate-oidc-issuer',
      'https://other.example.com',
    ]);
    expect(wrongIssuer.code).toBe(1);
    // Another trusted root (another CA) does not vouch for the certificate.
    writeFileSync(join(work, 'other_root.json'), (await startKeylessSigstore()).trustedRoot);
    const otherRoot = await meshwasm([
      'verify',
      `${name}:v1`,
      '--trusted-root',
      'other_root.json',
      ...PLAIN,
      '--certificate-identity',
      'release@example.com',
      '--certificate-oidc-issuer',
      'https://issuer.example.com',
    ]);
    expect(otherRoot.code).toBe(1);
    expect(otherRoot.stderr).toContain('not signed by any trusted signer');
  });

  it("keyless in cosign's .sig tag (certificate and Rekor bundle as annotations), as cosign v2 signs by default", async () => {
    const sigstore = await startKeylessSigstore();
    writeFileSync(join(work, 'trusted_root_sig.json'), sigstore.trustedRoot);
    const digest = await pushModule(registry, 'f/keyless-sig', 'v1', 'keyless-sig');
    const name = `${registry.host}/f/keyless-sig`;
    const payload = simpleSigningPayload(name, digest);
    const signed = await sigstore.signCosignKeyless(
      payload,
      'release@example.com',
      'https://issuer.example.com',
    );
    const attach = async (
      annotations: Record<string, string>,
      signature = signed.signature,
      bytes = payload,
    ) => {
      const session = new OciSession({ plainHttp: true });
      try {
        const { target } = await session.open(`${name}:v1`);
        await writeCosignSignature(target, digest, bytes, signature, annotations);
      } finally {
        await session.close();
      }
    };
    const verifyTag = (tag: string, identity = 'release@example.com', ...extra: string[]) =>
      meshwasm([
        'verify',
        `${name}:${tag}`,
        '--trusted-root',
        'trusted_root_sig.json',
        '--certificate-identity',
        identity,
        '--certificate-oidc-issuer',
        'https://issuer.example.com',
        ...PLAIN,
        ...extra,
      ]);
    const verify = (identity = 'release@example.com', ...extra: string[]) =>
      verifyTag('v1', identity, ...extra);

    // Broken Rekor material first: each one alone is refused, with the reason.
    const rekor = JSON.parse(signed.annotations['dev.sigstore.cosign/bundle']!) as {
      Payload: { integratedTime: number };
    };
    rekor.Payload.integratedTime += 1; // the SET no longer signs what the entry says
    await attach({ ...signed.annotations, 'dev.sigstore.cosign/bundle': JSON.stringify(rekor) });
    const badSet = await verify();
    expect(badSet.code).toBe(1);
    expect(badSet.stderr).toContain(
      'identity release@example.com from issuer https://issuer.example.com: inclusion promise could not be verified',
    );
    await attach({
      'dev.sigstore.cosign/certificate': signed.annotations['dev.sigstore.cosign/certificate']!,
    });
    const withoutEntry = await verify();
    expect(withoutEntry.code).toBe(1);
    expect(withoutEntry.stderr).toContain('no dev.sigstore.cosign/bundle annotation');

    // As cosign wrote it (the broken layers stay next to it: one good signature suffices).
    await attach(signed.annotations);
    const ok = await verify('release@example.com', '--output', 'json');
    expect(ok.code, ok.stderr).toBe(0);
    expect(ok.json).toMatchObject({
      via: 'cosign-signature-tag',
      signer: 'identity release@example.com from issuer https://issuer.example.com',
    });
    const wrongIdentity = await verify('mallory@example.com');
    expect(wrongIdentity.code).toBe(1);
    expect(wrongIdentity.stderr).toContain(
      'identity mallory@example.com from issuer https://issuer.example.com',
    );

    // The same certificate and Rekor entry over a payload naming another digest: the entry's body names
    // the hash of the payload that was signed, so swapping payloads is refused.
    const otherDigest = await pushModule(registry, 'f/keyless-sig', 'v2', 'keyless-sig-2');
    const other = await verifyTag('v2');
    expect(other.code).toBe(1); // nothing is stored for v2 yet
    const session = new OciSession({ plainHttp: true });
    try {
      const { target } = await session.open(`${name}:v2`);
      await writeCosignSignature(
        target,
        otherDigest,
        simpleSigningPayload(name, otherDigest),
        signed.signature,
        signed.annotations,
      );
    } finally {
      await session.close();
    }
    const swapped = await verifyTag('v2');
    expect(swapped.code).toBe(1);
    expect(swapped.stderr).toContain('not signed by any trusted signer');

    // A key-only policy does not accept a keyless signature, and says why.
    const keyOnly = cosignKeyPair('keyless-sig-only', 'pw');
    const byKey = await meshwasm(['verify', `${name}:v1`, '--key', keyOnly.pub, ...PLAIN]);
    expect(byKey.code).toBe(1);
    expect(byKey.stderr).toContain('keyless (a Fulcio certificate), and the policy lists no identities');
  });
});

describe('with the referrers API (a labelled shim in front of the same real registry)', () => {
  let registry: TestRegistry;
  let shim: ReferrersShim;
  beforeAll(async () => {
    registry = await startRegistry();
    shim = await startReferrersShim(registry.url);
  });
  afterAll(async () => {
    await shim.stop();
    await registry.destroy();
  });

  it('attaches the bundle as a referrer the API lists (no fallback tag) and verifies through the API', async () => {
    const digest = await pushModule({ host: shim.host }, 'f/api', 'v1', 'api');
    cosignKeyPair('api', 'p');
    const ref = `${shim.host}/f/api:v1`;
    const signed = await meshwasm(
      ['sign', ref, '--key', 'api.key', '--bundle', ...PLAIN, '--output', 'json'],
      {
        COSIGN_PASSWORD: 'p',
      },
    );
    expect(signed.code, signed.stderr).toBe(0);
    expect(signed.json).toMatchObject({ bundle: { referrers: 'api' } });
    // No tag-schema index was written: the registry behind the shim has no sha256-<hex> tag.
    expect((await fetch(`${registry.url}/v2/f/api/manifests/${digest.replace(':', '-')}`)).status).toBe(404);
    await fetch(`${registry.url}/v2/f/api/manifests/${signed.json!.signatureManifest as string}`, {
      method: 'DELETE',
    });
    const ok = await meshwasm(['verify', ref, '--key', 'api.pub', ...PLAIN, '--output', 'json']);
    expect(ok.code, ok.stderr).toBe(0);
    expect(ok.json).toMatchObject({ via: 'sigstore-bundle', referrers: 'api' });
    expect(shim.referrersQueries).toBeGreaterThan(0);
  });
});
