/**
 * Our Informer (list + watch on the JSON client, no client-node) and our kubeconfig loader, against the
 * test API server over real HTTP: resume after dropped watches, relist after compaction with the missed
 * deletes delivered, stop; token, token file and the client-node fallback for exec plugins.
 */
import { chmodSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createLogger } from '../../src/log.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Informer, KubeClient, loadKubeConfig, Resources, type KubeObject } from '../../src/kube/index.js';
import { startKubeApiServer, type KubeApiServer } from '../support/kube-apiserver/index.js';
import { until } from './helpers.js';

const NS = 'kube-node-lease';
let server: KubeApiServer;
let client: KubeClient;
const log = createLogger('test', 'silent');
const configMap = (name: string): KubeObject => ({
  apiVersion: 'v1',
  kind: 'ConfigMap',
  metadata: { name, namespace: NS },
});

beforeAll(async () => {
  server = await startKubeApiServer();
  client = new KubeClient(loadKubeConfig(server.kubeconfigPath));
});

afterAll(async () => {
  client?.close();
  await server?.stop();
});

describe('Informer', () => {
  it('stays in sync across dropped watches and compaction, delivering what it missed', async () => {
    await client.create(Resources.configMaps, configMap('before'));
    const seen: string[] = [];
    const informer = new Informer(
      client,
      Resources.configMaps,
      {
        add: (o) => seen.push(`add ${o.metadata.name}`),
        update: (o) => seen.push(`update ${o.metadata.name}`),
        delete: (o) => seen.push(`delete ${o.metadata.name}`),
      },
      log,
      { namespace: NS },
    );
    await informer.start();
    expect(informer.hasSynced()).toBe(true);
    expect(informer.get('before', NS)?.metadata.name).toBe('before');

    await client.create(Resources.configMaps, configMap('i1'));
    await until(() => informer.get('i1', NS), 'i1 in cache');
    server.closeWatches(); // resumes from its resourceVersion
    await client.create(Resources.configMaps, configMap('i2'));
    await until(() => informer.get('i2', NS), 'i2 in cache');

    server.compact();
    server.closeWatches(); // resuming now gets 410: it must relist
    await client.delete(Resources.configMaps, NS, 'i1');
    await client.patch(Resources.configMaps, NS, 'i2', { data: { k: 'v' } });
    await client.create(Resources.configMaps, configMap('i3'));
    await until(() => informer.get('i3', NS) && !informer.get('i1', NS), 'cache after relist');
    await until(() => informer.get('i2', NS)?.data, 'i2 updated');

    await informer.stop();
    expect(
      informer
        .list(NS)
        .map((o) => o.metadata.name)
        .sort(),
    ).toEqual(['before', 'i2', 'i3']);
    expect(seen).toEqual(
      expect.arrayContaining(['add before', 'add i1', 'add i2', 'delete i1', 'update i2', 'add i3']),
    );
    expect(seen.indexOf('delete i1')).toBeGreaterThan(seen.indexOf('add i1'));
    // Stopped means stopped: nothing more arrives.
    const count = seen.length;
    await client.create(Resources.configMaps, configMap('after-stop'));
    await new Promise((r) => setTimeout(r, 300));
    expect(seen.length).toBe(count);
  });

  it('watches one object by field selector', async () => {
    const seen: string[] = [];
    const informer = new Informer(
      client,
      Resources.configMaps,
      { add: (o) => seen.push(o.metadata.name) },
      log,
      {
        namespace: NS,
        fieldSelector: 'metadata.name=only-me',
      },
    );
    await informer.start();
    await client.create(Resources.configMaps, configMap('not-me'));
    await client.create(Resources.configMaps, configMap('only-me'));
    await until(() => informer.get('only-me', NS), 'only-me in cache');
    await informer.stop();
    expect(seen).toEqual(['only-me']);
  });
});

describe('loadKubeConfig', () => {
  const variant = (user: string[]): string => {
    const dir = mkdtempSync(join(tmpdir(), 'meshwasm-kubeconfig-'));
    const text = readFileSync(server.kubeconfigPath, 'utf8').replace(
      '    token: meshwasm-test-token',
      user.map((l) => `    ${l}`).join('\n'),
    );
    const file = join(dir, 'kubeconfig');
    writeFileSync(file, text, { mode: 0o600 });
    return file;
  };
  const works = async (file: string) => {
    const c = new KubeClient(loadKubeConfig(file));
    try {
      await c.list(Resources.configMaps, NS);
    } finally {
      c.close();
    }
  };

  it('reads a token file relative to the kubeconfig', async () => {
    const file = variant(['tokenFile: token']);
    writeFileSync(join(file, '..', 'token'), 'meshwasm-test-token\n');
    await works(file);
  });

  it('hands exec plugins to client-node, loaded on first use', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'meshwasm-exec-'));
    const plugin = join(dir, 'credential');
    writeFileSync(
      plugin,
      '#!/bin/sh\necho \'{"apiVersion":"client.authentication.k8s.io/v1","kind":"ExecCredential","status":{"token":"meshwasm-test-token"}}\'\n',
    );
    chmodSync(plugin, 0o755);
    const file = variant([
      'exec:',
      '  apiVersion: client.authentication.k8s.io/v1',
      `  command: ${plugin}`,
      '  interactiveMode: Never',
    ]);
    expect(loadKubeConfig(file).getCurrentCluster()?.server).toBe(server.url);
    await works(file);
  });

  it('says what is wrong with a kubeconfig that names no cluster', () => {
    const dir = mkdtempSync(join(tmpdir(), 'meshwasm-kubeconfig-'));
    const file = join(dir, 'kubeconfig');
    writeFileSync(file, 'apiVersion: v1\nkind: Config\ncurrent-context: nowhere\ncontexts: []\n');
    expect(() => loadKubeConfig(file)).toThrow(/cannot load the kubeconfig .*no context named nowhere/);
  });
});
