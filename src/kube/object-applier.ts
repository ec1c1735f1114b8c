/**
 * Apply and delete for `meshwasm install` and `uninstall`, on the same JSON client as the controller:
 * read, then create or replace (with the live resourceVersion, retried on 409), reporting what changed
 * the way kubectl does. It needs only get/create/update/delete, so it works on any API server, and plain
 * JSON bodies keep every field of the CRD (its `default`s and `x-kubernetes-*` extensions) as written.
 */
import { MeshwasmError } from '../errors.js';
import type { KubeObject as ManifestObject } from '../mesh/index.js';
import { KubeApiError, KubeClient, type KubeObject } from './client.js';
import { loadKubeConfig } from './config.js';
import { resourceFor, Resources } from './resources.js';

export interface KubeFlags {
  kubeconfig?: string;
  context?: string;
}

export type ApplyOutcome = 'created' | 'configured' | 'unchanged';

/** What every install object has: enough to find its resource and name it. */
export type ObjectHeader = Pick<ManifestObject, 'apiVersion' | 'kind' | 'metadata'> | KubeObject;

/** The HTTP status of an API error, or undefined for network failures. */
export function statusOf(err: unknown): number | undefined {
  return err instanceof KubeApiError ? err.status : undefined;
}

/** Turns a failed API call into an error that says what was being done and how to fix it. */
export function kubeError(err: unknown, what: string, server: string): MeshwasmError {
  if (err instanceof KubeApiError) {
    if (err.status === 401)
      return new MeshwasmError('UNAUTHORIZED', `${what}: the API server rejected the credentials`, {
        hint: 'check the user in your kubeconfig (kubectl auth whoami)',
        cause: err,
      });
    if (err.status === 403)
      return new MeshwasmError('DENIED', `${what}: forbidden (${err.detail})`, {
        hint: 'installing meshwasm needs cluster-admin rights (CRDs, ClusterRoles)',
        cause: err,
      });
    return new MeshwasmError('KUBERNETES', `${what}: the API server answered ${err.status} (${err.detail})`, {
      hint: 'see the message above; `kubectl get` the object to inspect it',
      cause: err,
    });
  }
  if (err instanceof MeshwasmError && err.code === 'NETWORK') {
    const reason = err.cause instanceof Error ? err.cause.message : err.message;
    return new MeshwasmError('NETWORK', `${what}: cannot reach the API server at ${server} (${reason})`, {
      hint: 'check that the cluster is up and KUBECONFIG/--context point at it',
      cause: err,
    });
  }
  return err instanceof MeshwasmError ? err : new MeshwasmError('KUBERNETES', `${what}: ${String(err)}`);
}

export function describeObject(o: {
  kind?: string;
  metadata: { name?: string; namespace?: string };
}): string {
  return `${(o.kind ?? '').toLowerCase()}/${o.metadata.name}${o.metadata.namespace ? ` -n ${o.metadata.namespace}` : ''}`;
}

/** True when every field of `desired` is present in `live` with the same value (server defaults ignored). */
export function isSubset(desired: unknown, live: unknown): boolean {
  if (desired === live) return true;
  if (Array.isArray(desired)) {
    return (
      Array.isArray(live) && desired.length === live.length && desired.every((d, i) => isSubset(d, live[i]))
    );
  }
  if (typeof desired === 'object' && desired !== null) {
    if (typeof live !== 'object' || live === null || Array.isArray(live)) return false;
    return Object.entries(desired).every(([k, v]) => isSubset(v, (live as Record<string, unknown>)[k]));
  }
  // Kubernetes turns some numbers into strings and back (e.g. int-or-string); compare their text.
  return typeof desired === 'number' && typeof live === 'string' ? String(desired) === live : false;
}

/** An applier for the cluster the flags (or KUBECONFIG) name. */
export function connectApplier(flags: KubeFlags): Applier {
  return new Applier(new KubeClient(loadKubeConfig(flags.kubeconfig, flags.context)));
}

export class Applier {
  readonly server: string;

  constructor(readonly client: KubeClient) {
    this.server = client.kubeConfig.getCurrentCluster()?.server ?? 'the API server';
  }

  async read(header: ObjectHeader): Promise<KubeObject | undefined> {
    const { namespace, name } = header.metadata;
    try {
      return await this.client.find(resourceOf(header), namespace, name!);
    } catch (err) {
      throw kubeError(err, `reading ${describeObject(header)}`, this.server);
    }
  }

  /**
   * Creates `desired`, or replaces the live object when it differs. With `keepExisting`, an existing
   * object is left as it is (the images ConfigMap: its content belongs to the controller once it runs).
   */
  async apply(desired: ManifestObject, options: { keepExisting?: boolean } = {}): Promise<ApplyOutcome> {
    const resource = resourceOf(desired);
    for (let attempt = 0; ; attempt++) {
      const live = await this.read(desired);
      try {
        if (live === undefined) {
          await this.client.create(resource, desired as KubeObject);
          return 'created';
        }
        if (options.keepExisting || isSubset(stripForCompare(desired), live)) return 'unchanged';
        // Keep what others put on the object's metadata (kubectl's annotations, extra labels, and the
        // finalizers and owners the server or other controllers rely on).
        const next: KubeObject = {
          ...desired,
          metadata: {
            ...desired.metadata,
            name: desired.metadata.name,
            ...(live.metadata.finalizers ? { finalizers: live.metadata.finalizers } : {}),
            ...(live.metadata.ownerReferences ? { ownerReferences: live.metadata.ownerReferences } : {}),
            labels: { ...live.metadata.labels, ...desired.metadata.labels },
            annotations: { ...live.metadata.annotations, ...desired.metadata.annotations },
            resourceVersion: live.metadata.resourceVersion,
          },
        };
        await this.client.replace(resource, next);
        return 'configured';
      } catch (err) {
        // Someone changed it between read and write: read again (a few times) instead of failing.
        const status = statusOf(err);
        if ((status === 409 || (status === 404 && live !== undefined)) && attempt < 4) continue;
        throw kubeError(err, `applying ${describeObject(desired)}`, this.server);
      }
    }
  }

  async delete(object: ObjectHeader): Promise<'deleted' | 'not found'> {
    const { namespace, name } = object.metadata;
    try {
      await this.client.delete(resourceOf(object), namespace, name!, 'Background');
      return 'deleted';
    } catch (err) {
      if (statusOf(err) === 404) return 'not found';
      throw kubeError(err, `deleting ${describeObject(object)}`, this.server);
    }
  }

  /** Every object of a custom resource in all namespaces; none when its CRD (`crdName`) is not installed. */
  async listCustomResources(crdName: string, apiVersion: string, kind: string): Promise<KubeObject[]> {
    const crd = await this.read({
      apiVersion: 'apiextensions.k8s.io/v1',
      kind: Resources.crds.kind,
      metadata: { name: crdName },
    });
    if (crd === undefined) return [];
    try {
      return (await this.client.list(resourceFor(apiVersion, kind))).items;
    } catch (err) {
      if (statusOf(err) === 404) return [];
      throw kubeError(err, `listing ${kind}s`, this.server);
    }
  }

  close(): void {
    this.client.close();
  }
}

function resourceOf(o: ObjectHeader) {
  return resourceFor(o.apiVersion ?? '', o.kind ?? '');
}

/** What to compare with the live object: metadata only by labels (the server adds the rest). */
function stripForCompare(desired: ManifestObject): Record<string, unknown> {
  const { metadata, ...rest } = desired;
  return { ...rest, metadata: { name: metadata.name, labels: metadata.labels ?? {} } };
}
