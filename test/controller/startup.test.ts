/**
 * Start-up on a cluster that is not ready for it: without the CRDs the controller stays alive, answers
 * /healthz, reports not ready on /readyz, and becomes ready once the CRDs are installed. Needs a cluster
 * without those CRDs, so it runs against the test API server only.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { parseAllDocuments } from 'yaml';
import { startController, type RunningController } from '../../src/controller/index.js';
import { KubeClient, loadKubeConfig, Resources, type KubeObject } from '../../src/kube/index.js';
import { startKubeApiServer, type KubeApiServer } from '../support/kube-apiserver/index.js';
import { freePort } from '../support/ports.js';
import { until } from './cluster.js';

const real = process.env.KUBECONFIG !== undefined;
let server: KubeApiServer | undefined;
let controller: RunningController | undefined;

afterAll(async () => {
  await controller?.stop();
  await server?.stop();
});

describe.skipIf(real)(
  'start-up without the CRDs (test API server only: a real cluster cannot drop its CRDs for a test)',
  () => {
    it('stays up and unready until the CRDs appear, then becomes ready', async () => {
      server = await startKubeApiServer();
      const client = new KubeClient(loadKubeConfig(server.kubeconfigPath));
      await client.create(Resources.namespaces, {
        apiVersion: 'v1',
        kind: 'Namespace',
        metadata: { name: 'istio-system' },
      });
      const port = await freePort();
      const starting = startController({
        kubeconfig: server.kubeconfigPath,
        port,
        host: '127.0.0.1',
        retryPeriodMs: 250,
      }).then((c) => (controller = c));
      await until(
        async () => (await fetch(`http://127.0.0.1:${port}/healthz`).catch(() => undefined))?.status === 200,
        'healthz',
      );
      expect((await fetch(`http://127.0.0.1:${port}/readyz`)).status).toBe(503);
      const root = join(import.meta.dirname, '..', '..');
      for (const file of [
        join(root, 'deploy', 'crd.yaml'),
        join(import.meta.dirname, 'envoyfilter-crd.yaml'),
      ])
        for (const d of parseAllDocuments(readFileSync(file, 'utf8')))
          await client.create(Resources.crds, d.toJS() as KubeObject);
      await starting;
      await until(
        async () => (await fetch(`http://127.0.0.1:${port}/readyz`)).status === 200,
        'readyz',
        60_000,
      );
      await until(() => controller!.isLeader(), 'leadership');
      client.close();
    });
  },
);
