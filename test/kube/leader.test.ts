/**
 * src/kube against the test API server: leader election (a live holder is never displaced, an expired
 * one is, a released lease is taken at once), Events with repeat counting, and apply.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  apply,
  EventRecorder,
  KubeClient,
  LeaderElector,
  loadKubeConfig,
  Resources,
  type KubeObject,
} from '../../src/kube/index.js';
import { createLogger } from '../../src/log.js';
import { startKubeApiServer, type KubeApiServer } from '../support/kube-apiserver/index.js';
import { until } from './helpers.js';

let server: KubeApiServer;
let client: KubeClient;
const log = createLogger('test', 'silent');
type Lease = KubeObject & {
  spec: {
    holderIdentity?: string;
    renewTime?: string;
    leaseTransitions?: number;
    leaseDurationSeconds?: number;
  };
};
const micro = () => new Date().toISOString().replace(/\.(\d{3})Z$/, '.$1000Z');

beforeAll(async () => {
  server = await startKubeApiServer();
  client = new KubeClient(loadKubeConfig(server.kubeconfigPath));
});
afterAll(async () => {
  client?.close();
  await server?.stop();
});

describe('LeaderElector', () => {
  it('never displaces a holder that keeps renewing, takes over once it stops, and hands over on release', async () => {
    await client.create(Resources.leases, {
      apiVersion: 'coordination.k8s.io/v1',
      kind: 'Lease',
      metadata: { name: 'l', namespace: 'default' },
      spec: { holderIdentity: 'ghost', leaseDurationSeconds: 1, renewTime: micro(), leaseTransitions: 3 },
    });
    const events: string[] = [];
    const b = new LeaderElector(
      client,
      {
        namespace: 'default',
        name: 'l',
        identity: 'b',
        leaseDurationMs: 1000,
        renewDeadlineMs: 800,
        retryPeriodMs: 100,
      },
      { onStartedLeading: () => events.push('b+'), onStoppedLeading: () => events.push('b-') },
      log,
    );
    b.start();
    // The ghost renews for three lease durations: b must stay a candidate all along.
    for (let i = 0; i < 15; i++) {
      const lease = await client.get<Lease>(Resources.leases, 'default', 'l');
      await client.replace(Resources.leases, { ...lease, spec: { ...lease.spec, renewTime: micro() } });
      await new Promise((r) => setTimeout(r, 200));
      expect(b.isLeader()).toBe(false);
    }
    // The ghost dies: after a lease duration without change, b takes over.
    await until(() => b.isLeader(), 'b to take over');
    const taken = await client.get<Lease>(Resources.leases, 'default', 'l');
    expect(taken.spec.holderIdentity).toBe('b');
    expect(taken.spec.leaseTransitions).toBe(4);

    const c = new LeaderElector(
      client,
      { namespace: 'default', name: 'l', identity: 'c', leaseDurationMs: 30_000, retryPeriodMs: 100 },
      { onStartedLeading: () => events.push('c+'), onStoppedLeading: () => events.push('c-') },
      log,
    );
    c.start();
    await new Promise((r) => setTimeout(r, 500));
    expect(c.isLeader()).toBe(false); // b renews
    await b.stop(); // releases: c need not wait out the lease
    await until(() => c.isLeader(), 'c to take over after the release');
    await c.stop();
    expect(events).toEqual(['b+', 'b-', 'c+', 'c-']);
  });
});

describe('KubeClient', () => {
  it('gives up on an API server that never answers, with an error that says so', async () => {
    const { createServer } = await import('node:http');
    const { KubeConfig } = await import('@kubernetes/client-node');
    const silent = createServer(() => undefined); // accepts requests, never responds
    await new Promise<void>((r) => silent.listen(0, '127.0.0.1', r));
    const port = (silent.address() as { port: number }).port;
    const kc = new KubeConfig();
    kc.loadFromOptions({
      clusters: [{ name: 'c', server: `http://127.0.0.1:${port}`, skipTLSVerify: true }],
      users: [{ name: 'u' }],
      contexts: [{ name: 'x', cluster: 'c', user: 'u' }],
      currentContext: 'x',
    });
    const slow = new KubeClient(kc, 200);
    try {
      await expect(slow.get(Resources.configMaps, 'default', 'x')).rejects.toMatchObject({
        code: 'NETWORK',
        message: expect.stringContaining('no answer within 200 ms'),
      });
    } finally {
      slow.close();
      silent.closeAllConnections();
      silent.close();
    }
  });

  it('maps API errors to typed errors with the server message', async () => {
    await expect(client.get(Resources.configMaps, 'default', 'missing')).rejects.toMatchObject({
      status: 404,
      reason: 'NotFound',
      code: 'NOT_FOUND',
      message: expect.stringContaining('configmaps "missing" not found'),
    });
    server.setFault((method) => (method === 'GET' ? 503 : undefined));
    try {
      await expect(client.get(Resources.configMaps, 'default', 'missing')).rejects.toMatchObject({
        status: 503,
        code: 'KUBERNETES',
      });
    } finally {
      server.setFault(undefined);
    }
  });
});

describe('EventRecorder and apply', () => {
  it('counts repeats of an event instead of creating new ones', async () => {
    const cm = await client.create<KubeObject>(Resources.configMaps, {
      apiVersion: 'v1',
      kind: 'ConfigMap',
      metadata: { name: 'ev', namespace: 'default' },
    });
    const rec = new EventRecorder(client, 'meshwasm-test', 'i', log);
    await rec.record(cm, 'Warning', 'Broken', 'it broke');
    await rec.record(cm, 'Warning', 'Broken', 'it broke');
    await rec.record(cm, 'Normal', 'Fixed', 'it works');
    const events = (
      await client.list<KubeObject & Record<string, unknown>>(Resources.events, 'default', {
        fieldSelector: `involvedObject.uid=${cm.metadata.uid}`,
      })
    ).items;
    expect(events.map((e) => `${e.reason}:${e.count}`).sort()).toEqual(['Broken:2', 'Fixed:1']);
    expect(events.every((e) => (e.involvedObject as { kind: string }).kind === 'ConfigMap')).toBe(true);
  });

  it('creates, updates only on change, and keeps fields it does not own', async () => {
    const desired = {
      apiVersion: 'v1',
      kind: 'ConfigMap',
      metadata: { name: 'applied', namespace: 'default', labels: { a: '1' } },
      data: { k: 'v' },
    };
    expect((await apply(client, Resources.configMaps, desired)).action).toBe('created');
    expect((await apply(client, Resources.configMaps, desired)).action).toBe('unchanged');
    await client.patch(Resources.configMaps, 'default', 'applied', { metadata: { labels: { other: 'x' } } });
    const { action, object } = await apply(client, Resources.configMaps, { ...desired, data: { k: 'w' } });
    expect(action).toBe('updated');
    expect(object.metadata.labels).toEqual({ a: '1', other: 'x' });
    expect((object as unknown as { data: object }).data).toEqual({ k: 'w' });
  });
});
