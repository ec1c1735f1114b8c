/**
 * A Kubernetes API server for tests: real HTTP (TLS by default), the real REST and watch protocol, the
 * real semantics of resourceVersion, conflicts, patches, finalizers, garbage collection, namespaces and
 * CRDs, in memory. It writes a kubeconfig that both `kubectl` and `@kubernetes/client-node` use unchanged.
 *
 * Served: legacy discovery, OpenAPI v3 (index and per group-version paths, enough for kubectl's field
 * validation and apply), `/version`, `/healthz`; list (label/field selectors, limit/continue, Table output)
 * and watch (resume by resourceVersion, ERROR 410 Expired after compaction, selector transitions,
 * BOOKMARK, timeoutSeconds); create/update/delete (preconditions, dryRun, generateName, propagation
 * Background/Foreground/Orphan, deletecollection); JSON merge, JSON and strategic merge patch; status
 * subresources with generation; Secret/ConfigMap/CRD validation and CRD structural schemas (defaults,
 * pruning, fieldValidation=Strict); protobuf request bodies for the kinds `kubectl create` sends.
 * Not served (clients get 404/415): server-side apply, aggregated discovery, protobuf responses, OpenAPI
 * v2, authentication and authorization (any token is accepted), admission webhooks, pod/exec subresources.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer as createHttpServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Controllers } from './controllers.js';
import { Http } from './http.js';
import { Operations } from './operations.js';
import { builtinTypes, ResourceRegistry } from './resources.js';
import { Store, type Obj } from './store.js';
import { makeTestPki } from '../tls.js';

export interface KubeApiServerOptions {
  /** Interval of BOOKMARK events on watches that allow them (default 1000 ms). */
  bookmarkIntervalMs?: number;
  /** Watch history kept for resuming (default 200,000 events); older resourceVersions get 410 Gone. */
  maxHistory?: number;
  /** Namespaces that exist from the start (default: default, kube-system, kube-public, kube-node-lease). */
  namespaces?: string[];
  /** Serve plain HTTP (the kubeconfig then sets insecure-skip-tls-verify, which client-node requires). */
  plainHttp?: boolean;
}

export interface KubeApiServer {
  url: string;
  /** PEM of the CA that signed the server's certificate (undefined with plainHttp). */
  caCertPath: string | undefined;
  kubeconfigPath: string;
  /** Ends open watches and stops listening. */
  stop(): Promise<void>;
  /** Forgets the watch history: a watch resumed from an older resourceVersion gets 410 Gone. */
  compact(): void;
  /** Ends every open watch connection (clients must resume from their resourceVersion). */
  closeWatches(): void;
  /** Current global resourceVersion. */
  resourceVersion(): number;
  /** Number of HTTP requests served so far. */
  requestCount(): number;
  /** Objects of one resource (group '' for core), for assertions that must not depend on the client. */
  objects(group: string, plural: string, namespace?: string): Obj[];
  /** Answers matching requests with an HTTP status instead of serving them, until cleared with undefined. */
  setFault(fault: ((method: string, path: string) => number | undefined) | undefined): void;
}

export async function startKubeApiServer(options: KubeApiServerOptions = {}): Promise<KubeApiServer> {
  const store = new Store(options.maxHistory);
  const registry = new ResourceRegistry(builtinTypes());
  const ops = new Operations(store, registry);
  new Controllers(ops);
  const nsType = registry.get('', 'v1', 'namespaces')!;
  for (const name of options.namespaces ?? ['default', 'kube-system', 'kube-public', 'kube-node-lease'])
    ops.create(nsType, 'v1', undefined, { metadata: { name } });

  let fault: ((method: string, path: string) => number | undefined) | undefined;
  const http = new Http(ops, {
    bookmarkIntervalMs: options.bookmarkIntervalMs ?? 1000,
    fault: (m, p) => fault?.(m, p),
  });
  const handler = (req: IncomingMessage, res: ServerResponse) => void http.handle(req, res);
  // TLS by default, with a throwaway CA in the kubeconfig: the same trust path clients use in a cluster.
  const pki = options.plainHttp ? undefined : makeTestPki();
  const server = pki
    ? createHttpsServer({ cert: readFileSync(pki.cert), key: readFileSync(pki.key) }, handler)
    : createHttpServer(handler);
  server.keepAliveTimeout = 60_000;
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  const url = `${pki ? 'https' : 'http'}://127.0.0.1:${port}`;

  const dir = mkdtempSync(join(tmpdir(), 'meshwasm-kube-'));
  const kubeconfigPath = join(dir, 'kubeconfig');
  writeFileSync(
    kubeconfigPath,
    [
      'apiVersion: v1',
      'kind: Config',
      'clusters:',
      '- name: test',
      '  cluster:',
      `    server: ${url}`,
      pki
        ? `    certificate-authority-data: ${readFileSync(pki.caCert).toString('base64')}`
        : '    insecure-skip-tls-verify: true',
      'users:',
      '- name: test',
      '  user:',
      '    token: meshwasm-test-token',
      'contexts:',
      '- name: test',
      '  context:',
      '    cluster: test',
      '    user: test',
      '    namespace: default',
      'current-context: test',
      '',
    ].join('\n'),
    { mode: 0o600 },
  );

  return {
    url,
    caCertPath: pki?.caCert,
    kubeconfigPath,
    async stop() {
      http.closeWatches();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      rmSync(dir, { recursive: true, force: true });
      if (pki) rmSync(pki.dir, { recursive: true, force: true });
    },
    compact: () => store.compact(),
    closeWatches: () => http.closeWatches(),
    resourceVersion: () => store.rv,
    requestCount: () => http.requestCount,
    objects: (group, plural, namespace) => store.list(`${group}/${plural}`, namespace),
    setFault(f) {
      fault = f;
    },
  };
}

export type { Obj };
