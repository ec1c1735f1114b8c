/**
 * In-cluster mode against the test Kubernetes API server (real REST + watch over HTTP) and the real
 * registry with basic auth: the ConfigMap and the pull secret are watched, a rotated password is used at
 * the next pull, and the agent reports through its pod's annotation and Events.
 */
import { readdirSync } from 'node:fs';
import { CoreV1Api, KubeConfig, type V1Pod } from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MODULES_ANNOTATION } from '../../src/mesh/types.js';
import { startKubeApiServer, type KubeApiServer } from '../support/kube-apiserver/index.js';
import { startRegistry, type TestRegistry } from '../support/registry.js';
import { moduleWithCustomSection } from '../support/wasm-fixtures.js';
import {
  eventually,
  getJson,
  pushModule,
  pushSession,
  runAgent,
  tempDir,
  type Pushed,
  removeTempDirs,
} from './helpers.js';

const NS = 'istio-system';
const POD = 'meshwasm-agent-x7k2p';
const PASSWORD = 'cluster-Pa55word';

let kube: KubeApiServer;
let registry: TestRegistry;
let api: CoreV1Api;
let a: Pushed;
let b: Pushed;

const dockerConfig = (host: string, password: string) =>
  Buffer.from(JSON.stringify({ auths: { [host]: { username: 'agent', password } } })).toString('base64');

beforeAll(async () => {
  kube = await startKubeApiServer({ namespaces: ['default', NS] });
  registry = await startRegistry({ auth: 'basic', username: 'agent', password: PASSWORD });
  const push = pushSession({ username: 'agent', password: PASSWORD });
  a = await pushModule(push, registry.host, 'cluster/a', 'v1', moduleWithCustomSection(6000, 'cluster-a'));
  b = await pushModule(
    push,
    registry.host,
    'cluster/b',
    'v1',
    moduleWithCustomSection(6000, 'cluster-b'),
    'compat',
  );
  await push.close();
  const kc = new KubeConfig();
  kc.loadFromFile(kube.kubeconfigPath);
  api = kc.makeApiClient(CoreV1Api);
  await api.createNamespacedPod({
    namespace: NS,
    body: {
      metadata: { name: POD, namespace: NS, labels: { 'app.kubernetes.io/name': 'meshwasm-agent' } },
      spec: { nodeName: 'node-1', containers: [{ name: 'agent', image: 'meshwasm:test' }] },
    },
  });
});

afterAll(async () => {
  removeTempDirs();
  await kube?.stop();
  await registry?.destroy();
});

const annotation = () => {
  const pod = kube.objects('', 'pods', NS).find((p) => p.metadata?.name === POD) as V1Pod | undefined;
  const value = pod?.metadata?.annotations?.[MODULES_ANNOTATION];
  return value === undefined ? undefined : (JSON.parse(value) as string[]);
};
const events = () =>
  kube
    .objects('', 'events', NS)
    .filter((e) => (e as { involvedObject?: { name?: string } }).involvedObject?.name === POD) as unknown as {
    reason: string;
    type: string;
    message: string;
  }[];

describe('agent in a cluster', () => {
  it('syncs from the watched ConfigMap and secret, reports on its pod, and follows a password rotation', async () => {
    await api.createNamespacedSecret({
      namespace: NS,
      body: {
        metadata: { name: 'asmwasm-cache', namespace: NS },
        type: 'kubernetes.io/dockerconfigjson',
        data: { '.dockerconfigjson': dockerConfig(registry.host, PASSWORD) },
      },
    });
    await api.createNamespacedConfigMap({
      namespace: NS,
      body: { metadata: { name: 'asmwasm-images', namespace: NS }, data: { images: `${a.pinned}\n` } },
    });
    const dir = tempDir();
    const agent = await runAgent({
      dir,
      kubeconfig: kube.kubeconfigPath,
      namespace: NS,
      podName: POD,
      podNamespace: NS,
      gcGraceMs: 500,
    });
    try {
      expect(agent.running.mode).toBe('cluster');
      await agent.running.agent.whenReady();
      expect(readdirSync(dir)).toContain(`${a.hex}.wasm`);
      await eventually(() => expect(annotation()).toEqual([a.digest]));
      await eventually(() =>
        expect(events().find((e) => e.reason === 'ModulePulled')?.message).toContain(a.pinned),
      );

      // A new reference in the ConfigMap is picked up from the watch.
      await api.replaceNamespacedConfigMap({
        name: 'asmwasm-images',
        namespace: NS,
        body: {
          metadata: { name: 'asmwasm-images', namespace: NS },
          data: { images: `${a.pinned}\n${b.pinned}\n` },
        },
      });
      await eventually(() => expect(annotation()).toEqual([a.digest, b.digest].sort()));

      // The password is rotated at the registry and in the secret; first the secret is wrong.
      const c = await pushModule(
        pushSession({ username: 'agent', password: PASSWORD }),
        registry.host,
        'cluster/c',
        'v1',
        moduleWithCustomSection(6000, 'cluster-c'),
      );
      await api.replaceNamespacedSecret({
        name: 'asmwasm-cache',
        namespace: NS,
        body: {
          metadata: { name: 'asmwasm-cache', namespace: NS },
          type: 'kubernetes.io/dockerconfigjson',
          data: { '.dockerconfigjson': dockerConfig(registry.host, 'not-the-Pa55word') },
        },
      });
      await eventually(() =>
        expect(agent.logs.filter((l) => l.msg === 'pull secret loaded')).toHaveLength(2),
      );
      await api.replaceNamespacedConfigMap({
        name: 'asmwasm-images',
        namespace: NS,
        body: {
          metadata: { name: 'asmwasm-images', namespace: NS },
          data: { images: `${a.pinned}\n${b.pinned}\n${c.pinned}\n` },
        },
      });
      await eventually(() => {
        const failed = events().find((e) => e.reason === 'ModulePullFailed');
        expect(failed?.type).toBe('Warning');
        expect(failed?.message).toContain(c.pinned);
      });
      expect(agent.logs.find((l) => l.msg === 'module pull failed')?.code).toBe('UNAUTHORIZED');
      await api.replaceNamespacedSecret({
        name: 'asmwasm-cache',
        namespace: NS,
        body: {
          metadata: { name: 'asmwasm-cache', namespace: NS },
          type: 'kubernetes.io/dockerconfigjson',
          data: { '.dockerconfigjson': dockerConfig(registry.host, PASSWORD) },
        },
      });
      await eventually(() => expect(annotation()).toEqual([a.digest, b.digest, c.digest].sort()));

      // Removed from the ConfigMap: gone after the grace period, and from the annotation.
      await api.replaceNamespacedConfigMap({
        name: 'asmwasm-images',
        namespace: NS,
        body: { metadata: { name: 'asmwasm-images', namespace: NS }, data: { images: `${c.pinned}\n` } },
      });
      await eventually(() => expect(annotation()).toEqual([c.digest]));
      await eventually(() =>
        expect(readdirSync(dir).filter((n) => n.endsWith('.wasm'))).toEqual([`${c.hex}.wasm`]),
      );
      // The Event is posted after the file is gone; it may land a moment later.
      await eventually(() => expect(events().some((e) => e.reason === 'ModuleRemoved')).toBe(true));
      expect((await getJson(agent.running.port, '/readyz')).status).toBe(200);
      expect(agent.text()).not.toContain(PASSWORD);
      expect(agent.text()).not.toContain('not-the-Pa55word');
    } finally {
      await agent.stop();
    }
  });

  it('re-lists after the watch history is compacted, and treats a deleted ConfigMap as an empty set', async () => {
    const dir = tempDir();
    const agent = await runAgent({
      dir,
      kubeconfig: kube.kubeconfigPath,
      namespace: NS,
      podName: POD,
      podNamespace: NS,
      gcGraceMs: 300,
    });
    try {
      await agent.running.agent.whenReady();
      const before = readdirSync(dir).filter((n) => n.endsWith('.wasm'));
      expect(before.length).toBeGreaterThan(0);
      kube.compact();
      kube.closeWatches();
      await api.deleteNamespacedConfigMap({ name: 'asmwasm-images', namespace: NS });
      await eventually(() => expect(readdirSync(dir).filter((n) => n.endsWith('.wasm'))).toEqual([]));
      await eventually(() => expect(annotation()).toEqual([]));
    } finally {
      await agent.stop();
    }
  });
});
