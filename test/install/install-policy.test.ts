/**
 * `meshwasm install` with a verification policy, as a user runs it (the CLI and kubectl as processes)
 * against the test Kubernetes API server: the policy file and the files it names become one ConfigMap
 * mounted into the controller and the agent DaemonSet, both told where; a re-install without a flag keeps
 * it; a broken policy installs nothing; an existing Secret can be mounted instead; --no-verification-policy
 * and uninstall remove what install made. Set KUBECONFIG to run it against a real cluster.
 */
import { execFile } from 'node:child_process';
import { generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseAllDocuments } from 'yaml';
import { startKubeApiServer, type KubeApiServer } from '../support/kube-apiserver/index.js';

const bin = fileURLToPath(new URL('../../bin/meshwasm.js', import.meta.url));
const NS = 'mw-policy';
const HASH = 'wasm.meshwasm.io/verification-policy-sha256';
const work = mkdtempSync(join(tmpdir(), 'meshwasm-install-policy-'));

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}
let server: KubeApiServer | undefined;
let kubeconfig: string;

function run(file: string, args: string[]): Promise<Run> {
  return new Promise((resolve) => {
    execFile(
      file,
      args,
      { encoding: 'utf8', cwd: work, env: { ...process.env, KUBECONFIG: kubeconfig } },
      (err, stdout, stderr) =>
        resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr }),
    );
  });
}
const meshwasm = (...args: string[]) => run(process.execPath, [bin, ...args]);
const kubectl = (...args: string[]) => run('kubectl', args);

// eslint-disable-next-line @typescript-eslint/no-explicit-any
async function get(kind: string, name: string): Promise<any> {
  const r = await kubectl('get', kind, name, '-n', NS, '-o', 'json', '--ignore-not-found');
  if (r.code !== 0) throw new Error(r.stderr);
  return r.stdout.trim() === '' ? undefined : JSON.parse(r.stdout);
}

/** What the two workloads mount and pass as the policy. */
async function mounted(): Promise<{ source: unknown; args: boolean; hash: string | undefined }[]> {
  return Promise.all(
    [
      ['deployment', 'meshwasm-controller'],
      ['daemonset', 'meshwasm-agent'],
    ].map(async ([kind, name]) => {
      const w = await get(kind!, name!);
      const t = w.spec.template;
      const c = t.spec.containers[0];
      const volume = (t.spec.volumes ?? []).find((v: { name: string }) => v.name === 'verification-policy');
      const mount = (c.volumeMounts ?? []).find((v: { name: string }) => v.name === 'verification-policy');
      const args = (c.args as string[])
        .join(' ')
        .includes('--verification-policy /etc/meshwasm/verification/policy.yaml');
      if (volume)
        expect(mount).toEqual({
          name: 'verification-policy',
          mountPath: '/etc/meshwasm/verification',
          readOnly: true,
        });
      return {
        source: volume && (volume.configMap ?? volume.secret),
        args,
        hash: t.metadata.annotations?.[HASH],
      };
    }),
  );
}

const pem = () =>
  generateKeyPairSync('ec', { namedCurve: 'prime256v1' }).publicKey.export({
    type: 'spki',
    format: 'pem',
  }) as string;

beforeAll(async () => {
  if (process.env.KUBECONFIG) kubeconfig = process.env.KUBECONFIG;
  else {
    server = await startKubeApiServer();
    kubeconfig = server.kubeconfigPath;
  }
  writeFileSync(join(work, 'release.pub'), pem());
  writeFileSync(
    join(work, 'policy.yaml'),
    '# who may sign filters\nkeys:\n  - name: release\n    file: release.pub\n',
  );
});

afterAll(async () => {
  await server?.stop();
});

describe('meshwasm install --verification-policy', () => {
  it('--dry-run: the policy and its key in one ConfigMap, mounted into both workloads', async () => {
    const r = await meshwasm('install', '--dry-run', '-n', NS, '--verification-policy', 'policy.yaml');
    expect(r.code, r.stderr).toBe(0);
    const objects = parseAllDocuments(r.stdout).map((d) => d.toJS());
    const cm = objects.find((o) => o.metadata.name === 'meshwasm-verification-policy');
    expect(Object.keys(cm.data).sort()).toEqual(['policy.yaml', 'release.pub']);
    expect(cm.data['policy.yaml']).toContain('# who may sign filters');
    const names = objects.map((o) => `${o.kind}/${o.metadata.name}`);
    // Before the workloads that mount it.
    expect(names.indexOf('ConfigMap/meshwasm-verification-policy')).toBeLessThan(
      names.indexOf('Deployment/meshwasm-controller'),
    );
    for (const kind of ['Deployment', 'DaemonSet']) {
      const w = objects.find((o) => o.kind === kind);
      expect(w.spec.template.spec.containers[0].args.slice(-2)).toEqual([
        '--verification-policy',
        '/etc/meshwasm/verification/policy.yaml',
      ]);
      expect(w.spec.template.metadata.annotations[HASH]).toMatch(/^[0-9a-f]{64}$/);
    }
  });

  it('a broken policy or a key file that is missing installs nothing and says where', async () => {
    writeFileSync(join(work, 'broken.yaml'), 'keys:\n  - name: release\n    file: gone.pub\n');
    const r = await meshwasm('install', '-n', NS, '--verification-policy', 'broken.yaml');
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain(`cannot read public key ${join(work, 'gone.pub')}`);
    expect(await get('deployment', 'meshwasm-controller')).toBeUndefined();
    const both = await meshwasm(
      'install',
      '-n',
      NS,
      '--verification-policy',
      'policy.yaml',
      '--verification-policy-from',
      'secret/x',
    );
    expect(both.code).toBe(2);
    expect(both.stderr).toContain('exclusive');
  });

  it('installs the ConfigMap and the mounts; a re-install without a flag keeps them', async () => {
    const r = await meshwasm('install', '-n', NS, '--verification-policy', 'policy.yaml');
    expect(r.code, r.stderr).toBe(0);
    const cm = await get('configmap', 'meshwasm-verification-policy');
    expect(cm.data['release.pub']).toContain('BEGIN PUBLIC KEY');
    const first = await mounted();
    for (const m of first) {
      expect(m).toMatchObject({ source: { name: 'meshwasm-verification-policy' }, args: true });
      expect(m.hash).toMatch(/^[0-9a-f]{64}$/);
    }

    const again = await meshwasm('install', '-n', NS, '-o', 'json');
    expect(again.code, again.stderr).toBe(0);
    expect(again.stderr).toContain('keeping the verification policy configmap/meshwasm-verification-policy');
    const changed = JSON.parse(again.stdout).results.filter(
      (x: { outcome: string }) => x.outcome !== 'unchanged',
    );
    expect(changed).toEqual([]);
    expect(await mounted()).toEqual(first);

    // A new key in the file: the ConfigMap changes and both workloads roll (a new hash).
    writeFileSync(join(work, 'release.pub'), pem());
    const rotated = await meshwasm('install', '-n', NS, '--verification-policy', 'policy.yaml');
    expect(rotated.code, rotated.stderr).toBe(0);
    const after = await mounted();
    for (const [i, m] of after.entries()) expect(m.hash).not.toBe(first[i]!.hash);
  });

  it('--verification-policy-from mounts an existing Secret after checking it; the old ConfigMap goes', async () => {
    const missing = await meshwasm('install', '-n', NS, '--verification-policy-from', 'secret/signers');
    expect(missing.code).toBe(3);
    expect(missing.stderr).toContain(`secret/signers not found in ${NS}`);

    writeFileSync(join(work, 'bad-policy.yaml'), 'keys:\n  - file: nowhere.pub\n');
    const created = await kubectl(
      'create',
      'secret',
      'generic',
      'bad-signers',
      '-n',
      NS,
      `--from-file=policy.yaml=${join(work, 'bad-policy.yaml')}`,
    );
    expect(created.code, created.stderr).toBe(0);
    const bad = await meshwasm('install', '-n', NS, '--verification-policy-from', 'secret/bad-signers');
    expect(bad.code).not.toBe(0);
    expect(bad.stderr).toContain(`secret/bad-signers in ${NS}: `);
    expect(bad.stderr).toContain('cannot read public key nowhere.pub');
    expect((await mounted())[0]!.source).toEqual({ name: 'meshwasm-verification-policy' });

    const ok = await kubectl(
      'create',
      'secret',
      'generic',
      'signers',
      '-n',
      NS,
      `--from-file=policy.yaml=${join(work, 'policy.yaml')}`,
      `--from-file=release.pub=${join(work, 'release.pub')}`,
    );
    expect(ok.code, ok.stderr).toBe(0);
    const r = await meshwasm('install', '-n', NS, '--verification-policy-from', 'secret/signers');
    expect(r.code, r.stderr).toBe(0);
    for (const m of await mounted())
      expect(m).toMatchObject({ source: { secretName: 'signers' }, args: true });
    expect(r.stdout).toContain(`configmap/meshwasm-verification-policy -n ${NS} deleted`);
    expect(await get('configmap', 'meshwasm-verification-policy')).toBeUndefined();
  });

  it("--no-verification-policy unmounts it (the user's Secret stays); uninstall removes the ConfigMap install made", async () => {
    const off = await meshwasm('install', '-n', NS, '--no-verification-policy');
    expect(off.code, off.stderr).toBe(0);
    for (const m of await mounted()) expect(m).toEqual({ source: undefined, args: false, hash: undefined });
    expect(await get('secret', 'signers')).toBeDefined();

    const on = await meshwasm('install', '-n', NS, '--verification-policy', 'policy.yaml');
    expect(on.code, on.stderr).toBe(0);
    const un = await meshwasm('uninstall', '-n', NS);
    expect(un.code, un.stderr).toBe(0);
    expect(un.stdout).toContain(`configmap/meshwasm-verification-policy -n ${NS} deleted`);
    expect(await get('configmap', 'meshwasm-verification-policy')).toBeUndefined();
    expect(await get('secret', 'signers')).toBeDefined();
  });
});
