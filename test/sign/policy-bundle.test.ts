/**
 * A policy file bundled as the flat files of one ConfigMap: the key files and the trusted root it names
 * (from any directory) get keys of their own, the policy is rewritten to name them (comments kept), and
 * the bundle parses to the same signers as the original. A broken bundle is refused, naming the object.
 */
import { generateKeyPairSync } from 'node:crypto';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { describeSigners, readPolicyFile } from '../../src/sign/index.js';
import { bundlePolicyFile, checkPolicyFiles } from '../../src/sign/policy-bundle.js';
import { startKeylessSigstore } from './keyless.js';

const pem = () =>
  generateKeyPairSync('ec', { namedCurve: 'prime256v1' }).publicKey.export({
    type: 'spki',
    format: 'pem',
  }) as string;

describe('bundlePolicyFile', () => {
  it('gives every named file a key of its own; the bundle trusts the same signers', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'meshwasm-bundle-'));
    for (const sub of ['a', 'b', 'roots']) mkdirSync(join(dir, sub));
    writeFileSync(join(dir, 'a', 'cosign.pub'), pem());
    writeFileSync(join(dir, 'b', 'cosign.pub'), pem());
    writeFileSync(join(dir, 'roots', 'trusted_root.json'), (await startKeylessSigstore()).trustedRoot);
    const file = join(dir, 'policy.yaml');
    writeFileSync(
      file,
      [
        '# release and hotfix keys',
        'keys:',
        '  - name: release',
        '    file: a/cosign.pub',
        '  - name: hotfix',
        '    file: b/cosign.pub',
        'identities:',
        '  - issuer: https://issuer.example',
        '    subject: ci@example.com',
        'trustedRoot: roots/trusted_root.json',
        '',
      ].join('\n'),
    );
    const files = bundlePolicyFile(file);
    expect(Object.keys(files).sort()).toEqual([
      'cosign.pub',
      'key-1.pub',
      'policy.yaml',
      'trusted_root.json',
    ]);
    expect(files['policy.yaml']).toContain('# release and hotfix keys');
    expect(files['policy.yaml']).toContain('file: cosign.pub');
    expect(files['policy.yaml']).toContain('file: key-1.pub');
    expect(files['policy.yaml']).toContain('trustedRoot: trusted_root.json');
    const bundled = checkPolicyFiles(files, 'configmap/x');
    expect(describeSigners(bundled)).toBe(describeSigners(readPolicyFile(file)));
  });

  it('refuses a bundle without policy.yaml, with a file name that is not one, or naming a missing file', () => {
    expect(() => checkPolicyFiles({ 'release.pub': pem() }, 'secret/s in ns')).toThrow(
      'secret/s in ns: has no "policy.yaml" key',
    );
    expect(() => checkPolicyFiles({ 'policy.yaml': 'keys: []\n', '../x': '' }, 'configmap/c')).toThrow(
      'configmap/c: "../x" is not a file name',
    );
    expect(() =>
      checkPolicyFiles({ 'policy.yaml': 'keys:\n  - file: gone.pub\n' }, 'configmap/c in ns'),
    ).toThrow(/^configmap\/c in ns: policy policy\.yaml: keys\[0\]: cannot read public key gone\.pub/);
  });
});
