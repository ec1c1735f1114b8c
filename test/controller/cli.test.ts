/** `meshwasm controller` as a process: it serves health and metrics, takes the Lease, and stops cleanly on SIGTERM. */
import { spawn } from 'node:child_process';
import { generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Resources, type KubeObject } from '../../src/kube/index.js';
import { freePort } from '../support/ports.js';
import { setupCluster, until, type TestCluster } from './cluster.js';

const bin = join(import.meta.dirname, '..', '..', 'bin', 'meshwasm.js');
let cluster: TestCluster;

beforeAll(async () => {
  cluster = await setupCluster();
});
afterAll(async () => {
  await cluster?.stop();
});

describe('meshwasm controller', () => {
  it('becomes ready and leader, and releases the Lease on SIGTERM', async () => {
    const port = await freePort();
    const child = spawn(
      process.execPath,
      [
        bin,
        'controller',
        '--kubeconfig',
        cluster.kubeconfigPath,
        '--namespace',
        cluster.system,
        '--host',
        '127.0.0.1',
        '--port',
        String(port),
        '--identity',
        'cli-test',
        '--retry-period',
        '200ms',
      ],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let stderr = '';
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    try {
      await until(
        async () => (await fetch(`http://127.0.0.1:${port}/readyz`)).status === 200,
        'readyz',
        30_000,
      );
      const lease = await until(
        () =>
          cluster.client.find<KubeObject & { spec?: { holderIdentity?: string } }>(
            Resources.leases,
            cluster.system,
            'meshwasm-controller',
          ),
        'the Lease',
      );
      expect(lease.spec?.holderIdentity).toBe('cli-test');
      expect(await (await fetch(`http://127.0.0.1:${port}/metrics`)).text()).toContain(
        'meshwasm_controller_leader 1',
      );
    } finally {
      child.kill('SIGTERM');
    }
    expect(await exited).toBe(0);
    const released = await cluster.client.get<KubeObject & { spec?: { holderIdentity?: string } }>(
      Resources.leases,
      cluster.system,
      'meshwasm-controller',
    );
    expect(released.spec?.holderIdentity ?? '').toBe('');
    expect(stderr).toBe('');
  });

  it('rejects bad flags with a usage error', async () => {
    const child = spawn(process.execPath, [bin, 'controller', '--workers', 'zero'], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stderr = '';
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    const code = await new Promise<number | null>((resolve) => child.on('exit', resolve));
    expect(code).toBe(2);
    expect(stderr).toContain('--workers');
  });

  it('--verification-policy: refuses to start on a broken policy, says which signers otherwise', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'meshwasm-controller-policy-'));
    const broken = join(dir, 'broken.yaml');
    writeFileSync(broken, 'keys:\n  - file: missing.pub\n');
    const child = spawn(process.execPath, [bin, 'controller', '--verification-policy', broken], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stderr = '';
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    expect(await new Promise<number | null>((resolve) => child.on('exit', resolve))).not.toBe(0);
    expect(stderr).toContain(`cannot read public key ${join(dir, 'missing.pub')}`);

    const { publicKey } = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
    writeFileSync(join(dir, 'release.pub'), publicKey.export({ type: 'spki', format: 'pem' }) as string);
    const good = join(dir, 'policy.yaml');
    writeFileSync(good, 'keys:\n  - name: release\n    file: release.pub\n');
    const port = await freePort();
    const running = spawn(
      process.execPath,
      [
        bin,
        'controller',
        '--kubeconfig',
        cluster.kubeconfigPath,
        '--namespace',
        cluster.system,
        '--host',
        '127.0.0.1',
        '--port',
        String(port),
        '--verification-policy',
        good,
      ],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let stdout = '';
    running.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
    const exited = new Promise<number | null>((resolve) => running.on('exit', resolve));
    try {
      await until(
        async () => (await fetch(`http://127.0.0.1:${port}/readyz`)).status === 200,
        'readyz',
        30_000,
      );
      const line = stdout
        .split('\n')
        .filter((l) => l.startsWith('{'))
        .map((l) => JSON.parse(l) as { msg: string; policy?: string; signers?: string })
        .find((l) => l.msg.startsWith('signature verification on'));
      expect(line).toMatchObject({ policy: `policy ${good}` });
      expect(line!.signers).toMatch(/^key release \(sha256:[0-9a-f]{16}\)$/);
    } finally {
      running.kill('SIGTERM');
    }
    expect(await exited).toBe(0);
  });
});
