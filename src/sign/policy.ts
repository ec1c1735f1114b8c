/**
 * A verification policy: which signers an image must be signed by (any one suffices, as with several
 * `cosign verify --key` runs): public keys, and keyless identities (OIDC issuer + certificate subject)
 * checked against a Sigstore trusted root read from a file (cosign's `--trusted-root`), so verification
 * needs no network besides the registry.
 *
 * The file form (YAML or JSON), as the controller and agent read it from a mounted ConfigMap or Secret:
 *   keys:
 *     - name: release            # optional, for messages
 *       publicKey: |             # PEM, or `file: cosign.pub` (relative to the policy file)
 *         -----BEGIN PUBLIC KEY-----
 *   identities:
 *     - issuer: https://token.actions.githubusercontent.com
 *       subject: https://github.com/org/repo/.github/workflows/release.yml@refs/heads/main
 *       # or subjectRegExp: '^https://github\.com/org/'
 *   trustedRoot: trusted_root.json   # needed for identities (path relative to the policy file)
 *   dockerReference: match           # default: a cosign signature must name the image's repository;
 *                                    # `ignore` accepts signatures copied from elsewhere (as cosign does)
 */
import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { TrustedRoot } from '@sigstore/protobuf-specs';
import { parse as parseYaml } from 'yaml';
import { MeshwasmError } from '../errors.js';
import { describeKey, parsePublicKey, type PublicKey } from './keys.js';

export interface KeylessIdentity {
  issuer: string;
  /** exact certificate subject (SAN: e-mail or URI) */
  subject?: string;
  /** or a regular expression it must match */
  subjectRegExp?: string;
}

export interface VerificationPolicy {
  keys: PublicKey[];
  identities: KeylessIdentity[];
  trustedRoot?: TrustedRoot;
  /**
   * `match`: the repository a cosign signature's payload names must be the image's (a signature copied
   * from another repository is refused); `ignore`: only the digest counts, as with `cosign verify`.
   */
  dockerReference: 'match' | 'ignore';
  /** where the policy came from, for messages ("policy /etc/meshwasm/verification/policy.yaml") */
  source: string;
}

export function describeIdentity(id: KeylessIdentity): string {
  return `identity ${id.subject ?? `~/${id.subjectRegExp}/`} from issuer ${id.issuer}`;
}

/** "key release (sha256:...), identity x from issuer y": what a failure message says was tried. */
export function describeSigners(policy: VerificationPolicy): string {
  return [...policy.keys.map(describeKey), ...policy.identities.map(describeIdentity)].join(', ');
}

function invalid(where: string, why: string): MeshwasmError {
  return new MeshwasmError('INVALID_INPUT', `${where}: ${why}`, {
    hint: 'see "Verifying filters" in docs/operations.md for the policy format',
  });
}

/** Reads a trusted root JSON file (the format `cosign --trusted-root` and sigstore-js read). */
export function readTrustedRoot(file: string): TrustedRoot {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new MeshwasmError('IO', `cannot read trusted root ${file}: ${(err as Error).message}`);
  }
  try {
    const root = TrustedRoot.fromJSON(JSON.parse(text));
    if (root.certificateAuthorities.length === 0 && root.tlogs.length === 0)
      throw new Error('it lists no certificate authority and no transparency log');
    return root;
  } catch (err) {
    throw invalid(`trusted root ${file}`, `not a Sigstore trusted root (${(err as Error).message})`);
  }
}

export function readKeyFile(file: string, name = file): PublicKey {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new MeshwasmError('IO', `cannot read public key ${file}: ${(err as Error).message}`, {
      hint: 'pass the cosign.pub that `cosign generate-key-pair` or `meshwasm generate-key-pair` wrote',
    });
  }
  return parsePublicKey(text, name);
}

/** Parses and checks a policy file; every error names the file and the field. */
export function readPolicyFile(file: string): VerificationPolicy {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new MeshwasmError('IO', `cannot read verification policy ${file}: ${(err as Error).message}`);
  }
  return parsePolicy(text, `policy ${file}`, dirname(resolve(file)));
}

export function parsePolicy(text: string, source: string, baseDir: string): VerificationPolicy {
  let doc: unknown;
  try {
    doc = parseYaml(text);
  } catch (err) {
    throw invalid(source, `not YAML or JSON (${(err as Error).message})`);
  }
  if (typeof doc !== 'object' || doc === null || Array.isArray(doc)) throw invalid(source, 'not a mapping');
  const d = doc as Record<string, unknown>;
  for (const field of Object.keys(d)) {
    if (!['keys', 'identities', 'trustedRoot', 'dockerReference'].includes(field))
      throw invalid(
        source,
        `unknown field "${field}" (known: keys, identities, trustedRoot, dockerReference)`,
      );
  }
  const keys = asList(d.keys, `${source}: keys`).map((entry, i) => {
    const where = `${source}: keys[${i}]`;
    const e = asMapping(entry, where);
    const name = typeof e.name === 'string' && e.name !== '' ? e.name : undefined;
    if (typeof e.publicKey === 'string') return parsePublicKey(e.publicKey, name ?? where);
    if (typeof e.file === 'string') {
      try {
        return readKeyFile(resolve(baseDir, e.file), name ?? e.file);
      } catch (err) {
        // Say which entry of which policy names the file.
        if (err instanceof MeshwasmError)
          throw new MeshwasmError(err.code, `${where}: ${err.message}`, { hint: err.hint });
        throw err;
      }
    }
    throw invalid(where, 'needs "publicKey" (PEM text) or "file" (a cosign.pub)');
  });
  const identities = asList(d.identities, `${source}: identities`).map((entry, i): KeylessIdentity => {
    const where = `${source}: identities[${i}]`;
    const e = asMapping(entry, where);
    if (typeof e.issuer !== 'string' || e.issuer === '') throw invalid(where, '"issuer" is required');
    const subject = typeof e.subject === 'string' ? e.subject : undefined;
    const subjectRegExp = typeof e.subjectRegExp === 'string' ? e.subjectRegExp : undefined;
    if ((subject === undefined) === (subjectRegExp === undefined))
      throw invalid(where, 'give exactly one of "subject" and "subjectRegExp"');
    if (subjectRegExp !== undefined) {
      try {
        new RegExp(subjectRegExp);
      } catch (err) {
        throw invalid(where, `subjectRegExp is not a regular expression (${(err as Error).message})`);
      }
    }
    return { issuer: e.issuer, subject, subjectRegExp };
  });
  let trustedRoot: TrustedRoot | undefined;
  if (d.trustedRoot !== undefined) {
    if (typeof d.trustedRoot !== 'string') throw invalid(`${source}: trustedRoot`, 'must be a file path');
    trustedRoot = readTrustedRoot(resolve(baseDir, d.trustedRoot));
  }
  if (identities.length > 0 && !trustedRoot)
    throw invalid(source, 'keyless "identities" need a "trustedRoot" file to check certificates against');
  if (keys.length === 0 && identities.length === 0)
    throw invalid(source, 'names no signer: give at least one entry in "keys" or "identities"');
  const dockerReference = d.dockerReference ?? 'match';
  if (dockerReference !== 'match' && dockerReference !== 'ignore')
    throw invalid(
      `${source}: dockerReference`,
      `must be "match" or "ignore", not ${JSON.stringify(dockerReference)}`,
    );
  return { keys, identities, trustedRoot, dockerReference, source };
}

function asList(value: unknown, where: string): unknown[] {
  if (value === undefined || value === null) return [];
  if (!Array.isArray(value)) throw invalid(where, 'must be a list');
  return value;
}

function asMapping(value: unknown, where: string): Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value))
    throw invalid(where, 'must be a mapping');
  return value as Record<string, unknown>;
}
