/** `meshwasm controller` as a process: it serves health and metrics, takes the Lease, and stops cleanly on SIGTERM. */
import { spawn } from 'node:child_process';
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
});
