/**
 * A policy file as the files of one ConfigMap (or Secret): `policy.yaml` and every file it names (key
 * files, the trusted root) under flat keys, the policy rewritten to name those keys. Mounted as a
 * directory, the bundle is read exactly as the original (names are relative to the policy file).
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, dirname, join, resolve } from 'node:path';
import { isMap, isSeq, parseDocument } from 'yaml';
import { MeshwasmError } from '../errors.js';
import { readPolicyFile, type VerificationPolicy } from './policy.js';

/** The policy's own key in the bundle. */
export const POLICY_KEY = 'policy.yaml';
/** What a ConfigMap holds at most (the API server refuses more). */
const MAX_BYTES = 1024 * 1024;
const KEY_NAME = /^[-._a-zA-Z0-9]+$/;

/** Reads, checks and bundles a policy file; every error names the file. */
export function bundlePolicyFile(file: string): Record<string, string> {
  readPolicyFile(file); // every field and every file it names, checked as the processes will
  const base = dirname(resolve(file));
  const doc = parseDocument(readFileSync(file, 'utf8'));
  const files: Record<string, string> = {};
  const place = (path: string, fallback: string): string => {
    const name = basename(path);
    let key = KEY_NAME.test(name) && name !== POLICY_KEY && !(name in files) ? name : fallback;
    for (let i = 2; key in files; i++) key = `${i}-${fallback}`;
    files[key] = readFileSync(resolve(base, path), 'utf8');
    return key;
  };
  const keys = doc.get('keys');
  if (isSeq(keys)) {
    keys.items.forEach((entry, i) => {
      if (isMap(entry) && typeof entry.get('file') === 'string')
        entry.set('file', place(entry.get('file') as string, `key-${i}.pub`));
    });
  }
  const root = doc.get('trustedRoot');
  if (typeof root === 'string') doc.set('trustedRoot', place(root, 'trusted_root.json'));
  files[POLICY_KEY] = doc.toString();
  const size = Object.entries(files).reduce((n, [k, v]) => n + k.length + Buffer.byteLength(v), 0);
  if (size > MAX_BYTES)
    throw new MeshwasmError(
      'INVALID_INPUT',
      `verification policy ${file}: with the files it names it is ${size} bytes, more than a ConfigMap holds (1 MiB)`,
      { hint: 'trim the trusted root to the authorities and logs you use' },
    );
  checkPolicyFiles(files, `verification policy ${file} (as bundled)`);
  return files;
}

/**
 * Checks the files of a ConfigMap or Secret as the controller and agents will read them once mounted,
 * so a broken policy is refused before it is rolled out.
 */
export function checkPolicyFiles(files: Record<string, string>, where: string): VerificationPolicy {
  if (!(POLICY_KEY in files))
    throw new MeshwasmError('INVALID_INPUT', `${where}: has no "${POLICY_KEY}" key`, {
      hint: `create it with kubectl create configmap NAME --from-file=${POLICY_KEY} --from-file=<each file it names>`,
    });
  const dir = mkdtempSync(join(tmpdir(), 'meshwasm-policy-check-'));
  try {
    for (const [key, text] of Object.entries(files)) {
      if (!KEY_NAME.test(key) || key === '.' || key === '..')
        throw new MeshwasmError('INVALID_INPUT', `${where}: "${key}" is not a file name`);
      writeFileSync(join(dir, key), text);
    }
    try {
      return readPolicyFile(join(dir, POLICY_KEY));
    } catch (err) {
      // Name the object, not the temporary directory.
      if (err instanceof MeshwasmError)
        throw new MeshwasmError(err.code, `${where}: ${err.message.split(join(dir, '/')).join('')}`, {
          hint: err.hint,
        });
      throw err;
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
