/**
 * The test Kubernetes API server, exercised through the real client library over HTTP: discovery, CRUD
 * with optimistic concurrency, the patch formats, the status subresource and generation, selectors,
 * watch semantics (resume, 410, bookmarks), finalizers, garbage collection, namespaces and CRDs.
 */
import {
  CoreV1Api,
  CoordinationV1Api,
  EventsV1Api,
  ListWatch,
  PatchStrategy,
  Watch,
} from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startKubeApiServer, type KubeApiServer } from '../support/kube-apiserver/index.js';
import { clients, expectStatus, raw, until, type Any } from './helpers.js';

let server: KubeApiServer;
let c: ReturnType<typeof clients>;
let core: CoreV1Api;

const crd = (plural: string, kind: string, scope: 'Namespaced' | 'Cluster', schema?: object): Any => ({
  apiVersion: 'apiextensions.k8s.io/v1',
  kind: 'CustomResourceDefinition',
  metadata: { name: `${plural}.example.meshwasm.io` },
  spec: {
    group: 'example.meshwasm.io',
    scope,
    names: { plural, singular: kind.toLowerCase(), kind, shortNames: [`${kind.toLowerCase()}s`.slice(0, 4)] },
    versions: [
      {
        name: 'v1',
        served: true,
        storage: true,
        subresources: { status: {} },
        schema: {
          openAPIV3Schema: schema ?? { type: 'object', 'x-kubernetes-preserve-unknown-fields': true },
        },
      },
    ],
  },
});

const widgetSchema = {
  type: 'object',
  properties: {
    spec: {
      type: 'object',
      required: ['size'],
      properties: {
        size: { type: 'string', enum: ['small', 'large'] },
        replicas: { type: 'integer', default: 1 },
        labels: { type: 'object', additionalProperties: { type: 'string' } },
      },
    },
    status: { type: 'object', 'x-kubernetes-preserve-unknown-fields': true },
  },
};

const deployment = (name: string, ns = 'default', labels: Record<string, string> = { app: name }): Any => ({
  apiVersion: 'apps/v1',
  kind: 'Deployment',
  metadata: { name, namespace: ns, labels },
  spec: {
    replicas: 1,
    selector: { matchLabels: labels },
    template: {
      metadata: { labels },
      spec: { containers: [{ name: 'app', image: 'busybox', ports: [{ containerPort: 80 }] }] },
    },
  },
});

/** CRDs go in as raw JSON: client-node's typed serializer would drop `default` and `x-kubernetes-*` keys. */
async function createCrd(body: Any): Promise<void> {
  const res = await raw(server, '/apis/apiextensions.k8s.io/v1/customresourcedefinitions', {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify(body),
  });
  if (res.status !== 201) throw new Error(`CRD not created: ${res.status} ${await res.text()}`);
}

beforeAll(async () => {
  server = await startKubeApiServer({ bookmarkIntervalMs: 100 });
  c = clients(server.kubeconfigPath);
  core = c.kc.makeApiClient(CoreV1Api);
  await c.objects.create({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'istio-system' } });
});

afterAll(async () => {
  await server?.stop();
});

describe('discovery', () => {
  it('lists the core version, the groups and their resources', async () => {
    const api = (await (await raw(server, `/api`)).json()) as { versions: string[] };
    expect(api.versions).toEqual(['v1']);
    const groups = (await (await raw(server, `/apis`)).json()) as { groups: { name: string }[] };
    expect(groups.groups.map((g) => g.name)).toEqual(
      expect.arrayContaining([
        'apps',
        'coordination.k8s.io',
        'apiextensions.k8s.io',
        'events.k8s.io',
        'rbac.authorization.k8s.io',
      ]),
    );
    const apps = (await (await raw(server, `/apis/apps/v1`)).json()) as {
      resources: { name: string; namespaced: boolean }[];
    };
    expect(apps.resources.map((r) => r.name)).toEqual(
      expect.arrayContaining(['deployments', 'deployments/status', 'statefulsets', 'daemonsets']),
    );
    const missing = await raw(server, `/apis/nope.example.com/v1`);
    expect(missing.status).toBe(404);
    expect(((await missing.json()) as { kind: string }).kind).toBe('Status');
  });
});

describe('create, get, update', () => {
  it('creates and reads objects, and answers 409 AlreadyExists and 404 NotFound with Status objects', async () => {
    const created = (await c.objects.create({
      apiVersion: 'v1',
      kind: 'ConfigMap',
      metadata: { name: 'one', namespace: 'default' },
      data: { a: '1' },
    } as Any)) as Any;
    expect(created.metadata?.uid).toMatch(/^[0-9a-f-]{36}$/);
    expect(Number(created.metadata?.resourceVersion)).toBeGreaterThan(0);
    const dup = await expectStatus(
      c.objects.create({
        apiVersion: 'v1',
        kind: 'ConfigMap',
        metadata: { name: 'one', namespace: 'default' },
      }),
    );
    expect(dup).toMatchObject({ code: 409, reason: 'AlreadyExists', kind: 'Status' });
    const nf = await expectStatus(core.readNamespacedConfigMap({ name: 'nope', namespace: 'default' }));
    expect(nf).toMatchObject({ code: 404, reason: 'NotFound', message: 'configmaps "nope" not found' });
    const ns404 = await expectStatus(
      c.objects.create({
        apiVersion: 'v1',
        kind: 'ConfigMap',
        metadata: { name: 'x', namespace: 'no-such-ns' },
      }),
    );
    expect(ns404).toMatchObject({ code: 404, message: 'namespaces "no-such-ns" not found' });
  });

  it('enforces optimistic concurrency on update', async () => {
    const cm = await core.createNamespacedConfigMap({
      namespace: 'default',
      body: { metadata: { name: 'occ' }, data: { v: '1' } },
    });
    const first = await core.replaceNamespacedConfigMap({
      name: 'occ',
      namespace: 'default',
      body: { ...cm, data: { v: '2' } },
    });
    expect(Number(first.metadata!.resourceVersion)).toBeGreaterThan(Number(cm.metadata!.resourceVersion));
    const stale = await expectStatus(
      core.replaceNamespacedConfigMap({
        name: 'occ',
        namespace: 'default',
        body: { ...cm, data: { v: '3' } },
      }),
    );
    expect(stale).toMatchObject({ code: 409, reason: 'Conflict' });
    // A no-op update writes nothing: same resourceVersion.
    const same = await core.replaceNamespacedConfigMap({ name: 'occ', namespace: 'default', body: first });
    expect(same.metadata!.resourceVersion).toBe(first.metadata!.resourceVersion);
    expect((await core.readNamespacedConfigMap({ name: 'occ', namespace: 'default' })).data).toEqual({
      v: '2',
    });
  });

  it('folds Secret stringData into data and validates dockerconfigjson secrets', async () => {
    const s = await core.createNamespacedSecret({
      namespace: 'default',
      body: { metadata: { name: 'plain' }, stringData: { user: 'me' } },
    });
    expect(s.data).toEqual({ user: Buffer.from('me').toString('base64') });
    expect(s.type).toBe('Opaque');
    const bad = await expectStatus(
      core.createNamespacedSecret({
        namespace: 'default',
        body: {
          metadata: { name: 'bad' },
          type: 'kubernetes.io/dockerconfigjson',
          data: { '.dockerconfigjson': Buffer.from('{nope').toString('base64') },
        },
      }),
    );
    expect(bad).toMatchObject({ code: 422, reason: 'Invalid' });
  });

  it('pages lists with limit and continue', async () => {
    for (const n of ['p1', 'p2', 'p3'])
      await core.createNamespacedConfigMap({ namespace: 'kube-public', body: { metadata: { name: n } } });
    const page1 = await core.listNamespacedConfigMap({ namespace: 'kube-public', limit: 2 });
    expect(page1.items.map((i) => i.metadata!.name)).toEqual(['p1', 'p2']);
    const page2 = await core.listNamespacedConfigMap({
      namespace: 'kube-public',
      limit: 2,
      _continue: page1.metadata!._continue,
    });
    expect(page2.items.map((i) => i.metadata!.name)).toEqual(['p3']);
    expect(page2.metadata!._continue).toBeUndefined();
  });
});

describe('patches', () => {
  it('applies JSON merge patch, JSON patch and strategic merge patch', async () => {
    await c.objects.create(deployment('patched'));
    const merged = (await c.objects.patch(
      {
        apiVersion: 'apps/v1',
        kind: 'Deployment',
        metadata: { name: 'patched', namespace: 'default', labels: { tier: 'web', app: null } },
      } as Any,
      undefined,
      undefined,
      undefined,
      undefined,
      PatchStrategy.MergePatch,
    )) as Any;
    expect(merged.metadata.labels).toEqual({ tier: 'web' });
    const strategic = (await c.objects.patch(
      {
        apiVersion: 'apps/v1',
        kind: 'Deployment',
        metadata: { name: 'patched', namespace: 'default' },
        spec: {
          template: {
            spec: {
              containers: [
                { name: 'sidecar', image: 'envoy' },
                { name: 'app', image: 'busybox:2' },
              ],
            },
          },
        },
      } as Any,
      undefined,
      undefined,
      undefined,
      undefined,
      PatchStrategy.StrategicMergePatch,
    )) as Any;
    const containers = strategic.spec.template.spec.containers as {
      name: string;
      image: string;
      ports?: unknown[];
    }[];
    expect(containers.map((x) => `${x.name}=${x.image}`)).toEqual(['app=busybox:2', 'sidecar=envoy']);
    expect(containers[0]!.ports).toEqual([{ containerPort: 80 }]); // merged by name, not replaced
    const res = await raw(server, `/apis/apps/v1/namespaces/default/deployments/patched`, {
      method: 'PATCH',
      headers: { 'Content-Type': 'application/json-patch+json' },
      body: JSON.stringify([
        { op: 'replace', path: '/spec/replicas', value: 3 },
        { op: 'test', path: '/spec/replicas', value: 3 },
      ]),
    });
    expect(res.status).toBe(200);
    expect(((await res.json()) as Any).spec.replicas).toBe(3);
    const stale = await raw(server, `/apis/apps/v1/namespaces/default/deployments/patched`, {
      method: 'PATCH',
      headers: { 'Content-Type': 'application/merge-patch+json' },
      body: JSON.stringify({ metadata: { resourceVersion: '1' }, spec: { replicas: 5 } }),
    });
    expect(stale.status).toBe(409);
  });
});

describe('status subresource and generation', () => {
  it('keeps spec and status apart and bumps generation on spec changes only', async () => {
    const d = (await c.objects.create(deployment('gen'))) as Any;
    expect(d.metadata.generation).toBe(1);
    const withStatus = (await c.objects.replace({ ...d, status: { replicas: 7 } })) as Any;
    expect(withStatus.status).toBeUndefined(); // the main resource ignores status
    expect(withStatus.metadata.generation).toBe(1);
    const res = await raw(server, `/apis/apps/v1/namespaces/default/deployments/gen/status`, {
      method: 'PATCH',
      headers: { 'Content-Type': 'application/merge-patch+json' },
      body: JSON.stringify({ status: { observedGeneration: 1, replicas: 1 }, spec: { replicas: 9 } }),
    });
    const afterStatus = (await res.json()) as Any;
    expect(afterStatus.status).toEqual({ observedGeneration: 1, replicas: 1 });
    expect(afterStatus.spec.replicas).toBe(1); // /status ignores spec
    expect(afterStatus.metadata.generation).toBe(1);
    const specChanged = (await c.objects.patch(
      {
        apiVersion: 'apps/v1',
        kind: 'Deployment',
        metadata: { name: 'gen', namespace: 'default' },
        spec: { replicas: 2 },
      } as Any,
      undefined,
      undefined,
      undefined,
      undefined,
      PatchStrategy.MergePatch,
    )) as Any;
    expect(specChanged.metadata.generation).toBe(2);
    expect(specChanged.status).toEqual({ observedGeneration: 1, replicas: 1 });
    const labelsOnly = (await c.objects.patch(
      {
        apiVersion: 'apps/v1',
        kind: 'Deployment',
        metadata: { name: 'gen', namespace: 'default', labels: { x: 'y' } },
      } as Any,
      undefined,
      undefined,
      undefined,
      undefined,
      PatchStrategy.MergePatch,
    )) as Any;
    expect(labelsOnly.metadata.generation).toBe(2);
  });
});

describe('selectors', () => {
  it('filters lists by label selector and field selector', async () => {
    const pod = (name: string, node: string, labels: Record<string, string>) =>
      core.createNamespacedPod({
        namespace: 'kube-system',
        body: {
          metadata: { name, labels },
          spec: { nodeName: node, containers: [{ name: 'c', image: 'i' }] },
        },
      });
    await pod('a1', 'node-1', { app: 'agent', tier: 'x' });
    await pod('a2', 'node-2', { app: 'agent' });
    await pod('b1', 'node-1', { app: 'other' });
    const names = async (labelSelector?: string, fieldSelector?: string) =>
      (await core.listNamespacedPod({ namespace: 'kube-system', labelSelector, fieldSelector })).items.map(
        (p) => p.metadata!.name,
      );
    expect(await names('app=agent')).toEqual(['a1', 'a2']);
    expect(await names('app in (agent, other),!tier')).toEqual(['a2', 'b1']);
    expect(await names('app!=agent')).toEqual(['b1']);
    expect(await names(undefined, 'spec.nodeName=node-1')).toEqual(['a1', 'b1']);
    expect(await names('app=agent', 'spec.nodeName=node-1,metadata.name!=zzz')).toEqual(['a1']);
    expect(await names(undefined, 'metadata.namespace=kube-system,metadata.name=a2')).toEqual(['a2']);
    const all = await core.listPodForAllNamespaces({ fieldSelector: 'metadata.name=b1' });
    expect(all.items.map((p) => `${p.metadata!.namespace}/${p.metadata!.name}`)).toEqual(['kube-system/b1']);
  });
});

describe('watch', () => {
  it('streams ADDED, MODIFIED and DELETED events and resumes from a resourceVersion', async () => {
    const list = await core.listNamespacedConfigMap({ namespace: 'istio-system' });
    const events: string[] = [];
    const w = new Watch(c.kc);
    const req = await w.watch(
      '/api/v1/namespaces/istio-system/configmaps',
      { resourceVersion: list.metadata!.resourceVersion },
      (type, obj: Any) => events.push(`${type} ${obj.metadata?.name} ${JSON.stringify(obj.data ?? {})}`),
      () => undefined,
    );
    await core.createNamespacedConfigMap({
      namespace: 'istio-system',
      body: { metadata: { name: 'w1' }, data: { k: '1' } },
    });
    await c.objects.patch(
      {
        apiVersion: 'v1',
        kind: 'ConfigMap',
        metadata: { name: 'w1', namespace: 'istio-system' },
        data: { k: '3' },
      } as Any,
      undefined,
      undefined,
      undefined,
      undefined,
      PatchStrategy.MergePatch,
    );
    await core.deleteNamespacedConfigMap({ name: 'w1', namespace: 'istio-system' });
    await until(() => events.some((e) => e.startsWith('DELETED')), 'DELETED event');
    req.abort();
    expect(events[0]).toBe('ADDED w1 {"k":"1"}');
    expect(events).toContain('MODIFIED w1 {"k":"3"}');
    expect(events[events.length - 1]).toMatch(/^DELETED w1/);
  });

  it('translates label selector transitions into ADDED and DELETED', async () => {
    const list = await core.listNamespacedConfigMap({ namespace: 'default' });
    const events: string[] = [];
    const req = await new Watch(c.kc).watch(
      '/api/v1/namespaces/default/configmaps',
      { resourceVersion: list.metadata!.resourceVersion, labelSelector: 'watched=yes' },
      (type, obj: Any) => events.push(`${type} ${obj.metadata?.name}`),
      () => undefined,
    );
    await core.createNamespacedConfigMap({ namespace: 'default', body: { metadata: { name: 'sel' } } });
    const relabel = (v: string | null) =>
      c.objects.patch(
        {
          apiVersion: 'v1',
          kind: 'ConfigMap',
          metadata: { name: 'sel', namespace: 'default', labels: { watched: v } },
        } as Any,
        undefined,
        undefined,
        undefined,
        undefined,
        PatchStrategy.MergePatch,
      );
    await relabel('yes');
    await relabel(null);
    await until(() => events.length >= 2, 'two events');
    req.abort();
    expect(events).toEqual(['ADDED sel', 'DELETED sel']);
  });

  it('answers a watch from a compacted resourceVersion with a 410 Expired ERROR event', async () => {
    const list = await core.listNamespacedConfigMap({ namespace: 'default' });
    await core.createNamespacedConfigMap({
      namespace: 'default',
      body: { metadata: { name: 'before-compaction' } },
    });
    server.compact();
    const events: { type: string; obj: Any }[] = [];
    let ended = false;
    await new Watch(c.kc).watch(
      '/api/v1/namespaces/default/configmaps',
      { resourceVersion: list.metadata!.resourceVersion },
      (type, obj: Any) => events.push({ type, obj }),
      () => (ended = true),
    );
    await until(() => ended, 'the watch to end');
    expect(events).toHaveLength(1);
    expect(events[0]!.type).toBe('ERROR');
    expect(events[0]!.obj).toMatchObject({ kind: 'Status', code: 410, reason: 'Expired' });
  });

  it('sends BOOKMARK events when asked', async () => {
    const list = await core.listNamespacedConfigMap({ namespace: 'default' });
    const types: string[] = [];
    const req = await new Watch(c.kc).watch(
      '/api/v1/namespaces/default/configmaps',
      { resourceVersion: list.metadata!.resourceVersion, allowWatchBookmarks: true },
      (type, obj: Any) => types.push(`${type}:${obj.metadata?.resourceVersion ?? ''}`),
      () => undefined,
    );
    await until(() => types.some((t) => t.startsWith('BOOKMARK:')), 'a bookmark');
    req.abort();
    expect(Number(types.find((t) => t.startsWith('BOOKMARK'))!.split(':')[1])).toBeGreaterThanOrEqual(
      Number(list.metadata!.resourceVersion),
    );
  });

  it('keeps a client-node informer in sync across dropped watches and compaction (relist on 410)', async () => {
    const path = '/api/v1/namespaces/kube-node-lease/configmaps';
    const lw = new ListWatch(
      path,
      new Watch(c.kc),
      () => core.listNamespacedConfigMap({ namespace: 'kube-node-lease' }),
      false,
    );
    const errorsSeen: unknown[] = [];
    lw.on('error', (e) => errorsSeen.push(e));
    await lw.start();
    await core.createNamespacedConfigMap({
      namespace: 'kube-node-lease',
      body: { metadata: { name: 'i1' } },
    });
    await until(() => lw.get('i1', 'kube-node-lease'), 'i1 in cache');
    server.closeWatches(); // the informer resumes from its resourceVersion
    await core.createNamespacedConfigMap({
      namespace: 'kube-node-lease',
      body: { metadata: { name: 'i2' } },
    });
    await until(() => lw.get('i2', 'kube-node-lease'), 'i2 in cache');
    server.compact();
    server.closeWatches(); // resuming now fails with 410 and the informer must relist
    await core.deleteNamespacedConfigMap({ name: 'i1', namespace: 'kube-node-lease' });
    await core.createNamespacedConfigMap({
      namespace: 'kube-node-lease',
      body: { metadata: { name: 'i3' } },
    });
    await until(
      () => lw.get('i3', 'kube-node-lease') && !lw.get('i1', 'kube-node-lease'),
      'cache after relist',
    );
    const errorsBeforeStop = [...errorsSeen];
    await lw.stop();
    expect(errorsBeforeStop).toEqual([]);
    expect(
      lw
        .list('kube-node-lease')
        .map((o) => o.metadata!.name)
        .sort(),
    ).toEqual(['i2', 'i3']);
  });
});

describe('deletion', () => {
  it('holds an object with finalizers until they are removed', async () => {
    await core.createNamespacedConfigMap({
      namespace: 'default',
      body: { metadata: { name: 'fin', finalizers: ['example.com/keep'] } },
    });
    const deleting = (await (
      await raw(server, '/api/v1/namespaces/default/configmaps/fin', { method: 'DELETE' })
    ).json()) as Any;
    expect(deleting.metadata.deletionTimestamp).toBeTruthy();
    const still = await core.readNamespacedConfigMap({ name: 'fin', namespace: 'default' });
    expect(still.metadata!.deletionTimestamp).toBeTruthy();
    const addMore = await expectStatus(
      core.replaceNamespacedConfigMap({
        name: 'fin',
        namespace: 'default',
        body: { ...still, metadata: { ...still.metadata, finalizers: ['example.com/keep', 'late'] } },
      }),
    );
    expect(addMore).toMatchObject({ code: 422 });
    await core.replaceNamespacedConfigMap({
      name: 'fin',
      namespace: 'default',
      body: { ...still, metadata: { ...still.metadata, finalizers: [] } },
    });
    expect(
      await expectStatus(core.readNamespacedConfigMap({ name: 'fin', namespace: 'default' })),
    ).toMatchObject({ code: 404 });
  });

  it('garbage-collects dependents in the background and orphans them when asked', async () => {
    const owner = (await c.objects.create(deployment('owner'))) as Any;
    const ref = {
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      name: 'owner',
      uid: owner.metadata.uid,
      controller: true,
    };
    await core.createNamespacedConfigMap({
      namespace: 'default',
      body: { metadata: { name: 'dep1', ownerReferences: [ref] } },
    });
    await c.objects.delete({
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      metadata: { name: 'owner', namespace: 'default' },
    });
    await until(
      async () =>
        (await core.listNamespacedConfigMap({ namespace: 'default', fieldSelector: 'metadata.name=dep1' }))
          .items.length === 0,
      'dep1 collected',
    );

    const owner2 = (await c.objects.create(deployment('owner2'))) as Any;
    const ref2 = { apiVersion: 'apps/v1', kind: 'Deployment', name: 'owner2', uid: owner2.metadata.uid };
    await core.createNamespacedConfigMap({
      namespace: 'default',
      body: { metadata: { name: 'dep2', ownerReferences: [ref2] } },
    });
    await c.objects.delete(
      { apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'owner2', namespace: 'default' } },
      undefined,
      undefined,
      undefined,
      undefined,
      'Orphan',
    );
    await until(
      async () =>
        (
          await c.objects.list(
            'apps/v1',
            'Deployment',
            'default',
            undefined,
            undefined,
            undefined,
            'metadata.name=owner2',
          )
        ).items.length === 0,
      'owner2 gone',
    );
    const orphan = await core.readNamespacedConfigMap({ name: 'dep2', namespace: 'default' });
    expect(orphan.metadata!.ownerReferences).toBeUndefined();
  });

  it('empties and removes a deleted namespace and refuses new content meanwhile', async () => {
    await c.objects.create({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'doomed' } });
    await core.createNamespacedConfigMap({
      namespace: 'doomed',
      body: { metadata: { name: 'held', finalizers: ['example.com/hold'] } },
    });
    await core.createNamespacedSecret({ namespace: 'doomed', body: { metadata: { name: 's' } } });
    await core.deleteNamespace({ name: 'doomed' });
    const ns = await core.readNamespace({ name: 'doomed' });
    expect(ns.status!.phase).toBe('Terminating');
    const refused = await expectStatus(
      core.createNamespacedConfigMap({ namespace: 'doomed', body: { metadata: { name: 'late' } } }),
    );
    expect(refused).toMatchObject({ code: 403, reason: 'Forbidden' });
    await until(
      async () => (await core.listNamespacedSecret({ namespace: 'doomed' })).items.length === 0,
      'secret removed',
    );
    const held = await core.readNamespacedConfigMap({ name: 'held', namespace: 'doomed' });
    await core.replaceNamespacedConfigMap({
      name: 'held',
      namespace: 'doomed',
      body: { ...held, metadata: { ...held.metadata, finalizers: [] } },
    });
    await until(
      async () => (await expectStatus(core.readNamespace({ name: 'doomed' }))).code === 404,
      'namespace removed',
    );
  });
});

describe('more verbs', () => {
  it('deletes dependents first with Foreground propagation', async () => {
    const owner = (await c.objects.create(deployment('fg-owner'))) as Any;
    const ref = {
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      name: 'fg-owner',
      uid: owner.metadata.uid,
      blockOwnerDeletion: true,
    };
    await core.createNamespacedConfigMap({
      namespace: 'default',
      body: { metadata: { name: 'fg-dep', ownerReferences: [ref], finalizers: ['example.com/slow'] } },
    });
    const res = await raw(server, '/apis/apps/v1/namespaces/default/deployments/fg-owner', {
      method: 'DELETE',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ kind: 'DeleteOptions', apiVersion: 'v1', propagationPolicy: 'Foreground' }),
    });
    expect(((await res.json()) as Any).metadata.finalizers).toContain('foregroundDeletion');
    // The owner waits for its dependent, which waits for its own finalizer.
    const dep = await until(async () => {
      const d = await core.readNamespacedConfigMap({ name: 'fg-dep', namespace: 'default' });
      return d.metadata!.deletionTimestamp ? d : undefined;
    }, 'dependent marked for deletion');
    expect(
      (
        await c.objects.read({
          apiVersion: 'apps/v1',
          kind: 'Deployment',
          metadata: { name: 'fg-owner', namespace: 'default' },
        })
      ).metadata,
    ).toBeDefined();
    await core.replaceNamespacedConfigMap({
      name: 'fg-dep',
      namespace: 'default',
      body: { ...dep, metadata: { ...dep.metadata, finalizers: [] } },
    });
    await until(
      async () => (await raw(server, '/apis/apps/v1/namespaces/default/deployments/fg-owner')).status === 404,
      'owner gone',
    );
  });

  it('deletes collections by selector, honours dryRun and generateName, and rejects what it cannot serve', async () => {
    for (const n of ['dc1', 'dc2', 'dc3'])
      await core.createNamespacedConfigMap({
        namespace: 'default',
        body: { metadata: { name: n, labels: { batch: n === 'dc3' ? 'keep' : 'drop' } } },
      });
    await core.deleteCollectionNamespacedConfigMap({ namespace: 'default', labelSelector: 'batch=drop' });
    const left = await core.listNamespacedConfigMap({ namespace: 'default', labelSelector: 'batch' });
    expect(left.items.map((i) => i.metadata!.name)).toEqual(['dc3']);

    const dry = await core.createNamespacedConfigMap({
      namespace: 'default',
      dryRun: 'All',
      body: { metadata: { name: 'dry' } },
    });
    expect(dry.metadata!.name).toBe('dry');
    expect(
      await expectStatus(core.readNamespacedConfigMap({ name: 'dry', namespace: 'default' })),
    ).toMatchObject({ code: 404 });

    const gen = await core.createNamespacedConfigMap({
      namespace: 'default',
      body: { metadata: { generateName: 'gen-' } },
    });
    expect(gen.metadata!.name).toMatch(/^gen-[a-z0-9]{5}$/);

    const mismatch = await raw(server, '/api/v1/namespaces/default/configmaps', {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({
        apiVersion: 'v1',
        kind: 'ConfigMap',
        metadata: { name: 'x', namespace: 'kube-system' },
      }),
    });
    expect(mismatch.status).toBe(400);
    const wrongKind = await raw(server, '/api/v1/namespaces/default/configmaps', {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ apiVersion: 'v1', kind: 'Secret', metadata: { name: 'x' } }),
    });
    expect(wrongKind.status).toBe(400);
    const badName = await expectStatus(
      core.createNamespacedConfigMap({ namespace: 'default', body: { metadata: { name: 'Not_Valid' } } }),
    );
    expect(badName).toMatchObject({ code: 422, reason: 'Invalid' });
    const ssa = await raw(server, '/api/v1/namespaces/default/configmaps/dc3', {
      method: 'PATCH',
      headers: { 'Content-Type': 'application/apply-patch+yaml' },
      body: '{}',
    });
    expect(ssa.status).toBe(415);
    const sub = await raw(server, '/api/v1/namespaces/default/configmaps/dc3/status');
    expect(sub.status).toBe(404);
  });
});

describe('custom resources', () => {
  it('registers the resource of a new CRD, applies its schema, and removes everything with it', async () => {
    await createCrd(crd('widgets', 'Widget', 'Namespaced', widgetSchema));
    const established = (await c.objects.read({
      apiVersion: 'apiextensions.k8s.io/v1',
      kind: 'CustomResourceDefinition',
      metadata: { name: 'widgets.example.meshwasm.io' },
    })) as Any;
    await until(async () => {
      const cur = (await c.objects.read(established)) as Any;
      return (cur.status?.conditions as { type: string; status: string }[] | undefined)?.some(
        (x) => x.type === 'Established' && x.status === 'True',
      );
    }, 'Established');
    const disc = (await (await raw(server, `/apis/example.meshwasm.io/v1`)).json()) as {
      resources: { name: string }[];
    };
    expect(disc.resources.map((r) => r.name)).toEqual(['widgets', 'widgets/status']);

    const w = (await c.objects.create({
      apiVersion: 'example.meshwasm.io/v1',
      kind: 'Widget',
      metadata: { name: 'w', namespace: 'default' },
      spec: { size: 'small', junk: 1 },
    } as Any)) as Any;
    expect(w.spec).toEqual({ size: 'small', replicas: 1 }); // defaulted and pruned
    expect(w.metadata.generation).toBe(1);
    const invalid = await expectStatus(
      c.objects.create({
        apiVersion: 'example.meshwasm.io/v1',
        kind: 'Widget',
        metadata: { name: 'bad', namespace: 'default' },
        spec: { size: 'huge' },
      } as Any),
    );
    expect(invalid).toMatchObject({ code: 422, reason: 'Invalid' });
    expect(invalid.message).toContain('spec.size');
    const missing = await expectStatus(
      c.objects.create({
        apiVersion: 'example.meshwasm.io/v1',
        kind: 'Widget',
        metadata: { name: 'bad2', namespace: 'default' },
        spec: {},
      } as Any),
    );
    expect(missing.message).toContain('spec.size: Required value');
    const strict = await raw(
      server,
      `/apis/example.meshwasm.io/v1/namespaces/default/widgets?fieldValidation=Strict`,
      {
        method: 'POST',
        headers: { 'Content-Type': 'application/json' },
        body: JSON.stringify({
          apiVersion: 'example.meshwasm.io/v1',
          kind: 'Widget',
          metadata: { name: 'strict' },
          spec: { size: 'small', junk: 1 },
        }),
      },
    );
    expect(strict.status).toBe(400);
    expect(await strict.text()).toContain('unknown field \\"spec.junk\\"');

    // Status subresource on a custom resource.
    const res = await raw(server, `/apis/example.meshwasm.io/v1/namespaces/default/widgets/w/status`, {
      method: 'PATCH',
      headers: { 'Content-Type': 'application/merge-patch+json' },
      body: JSON.stringify({ status: { ok: true } }),
    });
    expect(((await res.json()) as Any).status).toEqual({ ok: true });
    // Strategic merge patch is not defined for custom resources.
    const smp = await raw(server, `/apis/example.meshwasm.io/v1/namespaces/default/widgets/w`, {
      method: 'PATCH',
      headers: { 'Content-Type': 'application/strategic-merge-patch+json' },
      body: '{}',
    });
    expect(smp.status).toBe(415);

    await c.objects.delete({
      apiVersion: 'apiextensions.k8s.io/v1',
      kind: 'CustomResourceDefinition',
      metadata: { name: 'widgets.example.meshwasm.io' },
    });
    await until(
      async () =>
        (await raw(server, `/apis/example.meshwasm.io/v1/namespaces/default/widgets`)).status === 404,
      'widgets unserved',
    );
    expect(server.objects('example.meshwasm.io', 'widgets')).toEqual([]);
  });

  it('serves every served version of a CRD from one storage (conversion strategy None)', async () => {
    const two = crd('things', 'Thing', 'Namespaced');
    const version = (two.spec.versions as Any[])[0]!;
    two.spec.versions = [
      { ...version, name: 'v1', storage: true },
      { ...version, name: 'v2', storage: false },
    ];
    await createCrd(two);
    await c.objects.create({
      apiVersion: 'example.meshwasm.io/v1',
      kind: 'Thing',
      metadata: { name: 't', namespace: 'default' },
      spec: { a: 1 },
    } as Any);
    const v2 = (await (
      await raw(server, '/apis/example.meshwasm.io/v2/namespaces/default/things/t')
    ).json()) as Any;
    expect(v2.apiVersion).toBe('example.meshwasm.io/v2');
    expect(v2.spec).toEqual({ a: 1 });
    const group = (await (await raw(server, '/apis/example.meshwasm.io')).json()) as Any;
    expect(group.preferredVersion.version).toBe('v1');
    expect(group.versions.map((v: Any) => v.version)).toEqual(['v1', 'v2']);
  });

  it('serves cluster-scoped custom resources', async () => {
    await createCrd(crd('gadgets', 'Gadget', 'Cluster'));
    const g = (await c.objects.create({
      apiVersion: 'example.meshwasm.io/v1',
      kind: 'Gadget',
      metadata: { name: 'g1' },
      spec: { anything: ['goes'] },
    } as Any)) as Any;
    expect(g.metadata.namespace).toBeUndefined();
    const listed = await (await raw(server, `/apis/example.meshwasm.io/v1/gadgets`)).json();
    expect((listed as { items: Any[] }).items.map((i) => i.spec)).toEqual([{ anything: ['goes'] }]);
  });
});

describe('leases and events', () => {
  it('serves coordination.k8s.io/v1 Leases with conflicts', async () => {
    const leases = c.kc.makeApiClient(CoordinationV1Api);
    const lease = await leases.createNamespacedLease({
      namespace: 'istio-system',
      body: {
        metadata: { name: 'leader' },
        spec: { holderIdentity: 'a', leaseDurationSeconds: 15, renewTime: new Date() as never },
      },
    });
    await leases.replaceNamespacedLease({
      name: 'leader',
      namespace: 'istio-system',
      body: { ...lease, spec: { ...lease.spec, holderIdentity: 'b' } },
    });
    const lost = await expectStatus(
      leases.replaceNamespacedLease({
        name: 'leader',
        namespace: 'istio-system',
        body: { ...lease, spec: { ...lease.spec, holderIdentity: 'c' } },
      }),
    );
    expect(lost.code).toBe(409);
    expect(
      (await leases.readNamespacedLease({ name: 'leader', namespace: 'istio-system' })).spec!.holderIdentity,
    ).toBe('b');
  });

  it('serves core/v1 and events.k8s.io/v1 Events', async () => {
    await core.createNamespacedEvent({
      namespace: 'default',
      body: {
        metadata: { generateName: 'x.' },
        involvedObject: { kind: 'Pod', name: 'p', namespace: 'default' },
        reason: 'Tested',
        message: 'hello',
        type: 'Normal',
      },
    });
    const ev = c.kc.makeApiClient(EventsV1Api);
    await ev.createNamespacedEvent({
      namespace: 'default',
      body: {
        metadata: { generateName: 'y.' },
        eventTime: new Date() as never,
        reason: 'Tested',
        note: 'hi',
        type: 'Normal',
        action: 'Test',
        reportingController: 'meshwasm',
        reportingInstance: 'i',
        regarding: { kind: 'Pod', name: 'p' },
      },
    });
    const core1 = await core.listNamespacedEvent({
      namespace: 'default',
      fieldSelector: 'involvedObject.name=p,reason=Tested',
    });
    expect(core1.items.map((e) => e.message)).toEqual(['hello']);
    const v1 = await ev.listNamespacedEvent({ namespace: 'default' });
    expect(v1.items.map((e) => e.note)).toEqual(['hi']);
  });
});
