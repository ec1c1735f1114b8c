/**
 * A small JSON client for the Kubernetes REST API. Connection settings and credentials (certificates,
 * tokens, token refresh) come from the KubeConnection (config.ts) for every request; the bodies stay
 * plain JSON, so custom resources and fields pass through untouched, and one keep-alive
 * agent is reused so a busy controller does not pay a TLS handshake per call.
 */
import http from 'node:http';
import https from 'node:https';
import type { IncomingMessage } from 'node:http';
import { MeshwasmError } from '../errors.js';
import type { KubeConnection } from './config.js';
import { resourcePath, type ResourceRef } from './resources.js';

export interface KubeObject {
  apiVersion?: string;
  kind?: string;
  metadata: {
    name: string;
    namespace?: string;
    uid?: string;
    resourceVersion?: string;
    generation?: number;
    labels?: Record<string, string>;
    annotations?: Record<string, string>;
    finalizers?: string[];
    deletionTimestamp?: string;
    ownerReferences?: { apiVersion: string; kind: string; name: string; uid: string; controller?: boolean }[];
    [k: string]: unknown;
  };
  [k: string]: unknown;
}

export interface KubeList<T> {
  metadata: { resourceVersion?: string; continue?: string };
  items: T[];
}

/** A failed API call: the HTTP status and the Status reason the server gave (Conflict, NotFound, ...). */
export class KubeApiError extends MeshwasmError {
  constructor(
    readonly status: number,
    readonly reason: string,
    /** the server's own message (the Status object's), without the request */
    readonly detail: string,
    what: string,
  ) {
    super(
      status === 401
        ? 'UNAUTHORIZED'
        : status === 403
          ? 'DENIED'
          : status === 404
            ? 'NOT_FOUND'
            : 'KUBERNETES',
      `${what}: ${detail}`,
      {
        hint:
          status === 401
            ? 'check the credentials in the kubeconfig'
            : status === 403
              ? 'grant the missing permission to the service account (see deploy/rbac.yaml)'
              : status === 404
                ? 'check that the object, its namespace and its CRD exist'
                : undefined,
      },
    );
  }
}

export const isNotFound = (e: unknown): boolean => e instanceof KubeApiError && e.status === 404;
export const isConflict = (e: unknown): boolean =>
  e instanceof KubeApiError && e.status === 409 && e.reason === 'Conflict';
export const isAlreadyExists = (e: unknown): boolean =>
  e instanceof KubeApiError && e.status === 409 && e.reason === 'AlreadyExists';

export type PatchType = 'merge' | 'json' | 'strategic';
const patchContentType: Record<PatchType, string> = {
  merge: 'application/merge-patch+json',
  json: 'application/json-patch+json',
  strategic: 'application/strategic-merge-patch+json',
};

export interface ListOptions {
  labelSelector?: string;
  fieldSelector?: string;
}

export class KubeClient {
  private agent: http.Agent | undefined;
  private readonly server: URL;
  /** Requests sent, for metrics and benchmarks. */
  requests = 0;

  constructor(
    readonly kubeConfig: KubeConnection,
    private readonly timeoutMs = 30_000,
  ) {
    const cluster = kubeConfig.getCurrentCluster();
    if (!cluster)
      throw new MeshwasmError('CONFIG', 'the kubeconfig has no current cluster', {
        hint: 'pass --kubeconfig <file>',
      });
    this.server = new URL(cluster.server);
  }

  async request<T>(
    method: string,
    path: string,
    body?: unknown,
    contentType = 'application/json',
  ): Promise<T> {
    const what = `${method} ${new URL(path, this.server).pathname}`;
    const res = await this.send(method, path, body, contentType, this.timeoutMs);
    const chunks: Buffer[] = [];
    return new Promise<T>((resolve, reject) => {
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('error', (err) => reject(this.networkError(what, err)));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        let parsed: unknown;
        try {
          parsed = text ? JSON.parse(text) : undefined;
        } catch {
          parsed = undefined;
        }
        const status = res.statusCode ?? 0;
        if (status >= 200 && status < 300) return resolve(parsed as T);
        const s = (parsed ?? {}) as { reason?: string; message?: string };
        reject(
          new KubeApiError(
            status,
            s.reason ?? 'Unknown',
            s.message ?? (text.slice(0, 200) || `HTTP ${status}`),
            what,
          ),
        );
      });
    });
  }

  /**
   * A streaming GET (watches): resolves with the response once a 2xx status is in, the body left to
   * the caller; any other status is read and thrown as a KubeApiError. `idleMs` bounds silence.
   */
  async stream(path: string, idleMs: number): Promise<IncomingMessage> {
    const res = await this.send('GET', path, undefined, 'application/json', idleMs);
    const status = res.statusCode ?? 0;
    if (status >= 200 && status < 300) return res;
    const chunks: Buffer[] = [];
    for await (const c of res) chunks.push(c as Buffer);
    const text = Buffer.concat(chunks).toString('utf8');
    let s: { reason?: string; message?: string } = {};
    try {
      s = JSON.parse(text) as typeof s;
    } catch {
      // not a Status object
    }
    throw new KubeApiError(
      status,
      s.reason ?? 'Unknown',
      s.message ?? (text.slice(0, 200) || `HTTP ${status}`),
      `GET ${new URL(path, this.server).pathname}`,
    );
  }

  private async send(
    method: string,
    path: string,
    body: unknown,
    contentType: string,
    timeoutMs: number,
  ): Promise<IncomingMessage> {
    const opts: https.RequestOptions = { method, headers: {} };
    if (this.server.protocol === 'http:' && !this.kubeConfig.getCurrentCluster()?.skipTLSVerify) {
      // client-node refuses this too (applyToHTTPSOptions throws a bare Error); say what to change.
      throw new MeshwasmError('CONFIG', `the API server ${this.server.origin} is plain HTTP`, {
        hint: 'credentials would travel unencrypted: use its https:// address, or set insecure-skip-tls-verify: true on that cluster in the kubeconfig if it really is a local plain-HTTP test server',
      });
    }
    await this.kubeConfig.applyToHTTPSOptions(opts);
    const secure = this.server.protocol === 'https:';
    this.agent ??= secure
      ? new https.Agent({
          keepAlive: true,
          maxSockets: 32,
          ca: opts.ca,
          cert: opts.cert,
          key: opts.key,
          rejectUnauthorized: opts.rejectUnauthorized,
          servername: opts.servername,
        })
      : new http.Agent({ keepAlive: true, maxSockets: 32 });
    const payload = body === undefined ? undefined : Buffer.from(JSON.stringify(body));
    const headers: Record<string, string | number> = {
      ...(opts.headers as Record<string, string>),
      Accept: 'application/json',
    };
    if (payload) {
      headers['Content-Type'] = contentType;
      headers['Content-Length'] = payload.length;
    }
    const url = new URL(path, this.server);
    this.requests++;
    const what = `${method} ${url.pathname}`;
    return new Promise<IncomingMessage>((resolve, reject) => {
      const req = (secure ? https : http).request(
        url,
        { method, headers, agent: this.agent, auth: opts.auth },
        resolve,
      );
      // A request that hangs would hold a worker forever: give up and let the caller retry.
      req.setTimeout(timeoutMs, () => req.destroy(new Error(`no answer within ${timeoutMs} ms`)));
      req.on('error', (err) => reject(this.networkError(what, err)));
      req.end(payload);
    });
  }

  private networkError(what: string, err: Error): MeshwasmError {
    return new MeshwasmError('NETWORK', `${what}: ${err.message}`, {
      hint: `check that the API server ${this.server.origin} is reachable`,
      cause: err,
    });
  }

  get<T = KubeObject>(r: ResourceRef, namespace: string | undefined, name: string): Promise<T> {
    return this.request('GET', resourcePath(r, namespace, name));
  }

  /** The object, or undefined when it does not exist. */
  async find<T = KubeObject>(
    r: ResourceRef,
    namespace: string | undefined,
    name: string,
  ): Promise<T | undefined> {
    try {
      return await this.get<T>(r, namespace, name);
    } catch (e) {
      if (isNotFound(e)) return undefined;
      throw e;
    }
  }

  list<T = KubeObject>(r: ResourceRef, namespace?: string, opts: ListOptions = {}): Promise<KubeList<T>> {
    const q = new URLSearchParams();
    if (opts.labelSelector) q.set('labelSelector', opts.labelSelector);
    if (opts.fieldSelector) q.set('fieldSelector', opts.fieldSelector);
    const qs = q.toString();
    return this.request('GET', `${resourcePath(r, namespace)}${qs ? `?${qs}` : ''}`);
  }

  create<T extends KubeObject>(r: ResourceRef, obj: T): Promise<T> {
    return this.request('POST', resourcePath(r, obj.metadata.namespace), obj);
  }

  replace<T extends KubeObject>(r: ResourceRef, obj: T, subresource?: 'status'): Promise<T> {
    return this.request('PUT', resourcePath(r, obj.metadata.namespace, obj.metadata.name, subresource), obj);
  }

  patch<T = KubeObject>(
    r: ResourceRef,
    namespace: string | undefined,
    name: string,
    patch: unknown,
    type: PatchType = 'merge',
    subresource?: 'status',
  ): Promise<T> {
    return this.request(
      'PATCH',
      resourcePath(r, namespace, name, subresource),
      patch,
      patchContentType[type],
    );
  }

  delete(
    r: ResourceRef,
    namespace: string | undefined,
    name: string,
    propagationPolicy: 'Background' | 'Foreground' | 'Orphan' = 'Background',
  ): Promise<unknown> {
    return this.request('DELETE', resourcePath(r, namespace, name), {
      kind: 'DeleteOptions',
      apiVersion: 'v1',
      propagationPolicy,
    });
  }

  close(): void {
    this.agent?.destroy();
  }
}
