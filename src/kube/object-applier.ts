/**
 * A small apply/delete helper over @kubernetes/client-node for `meshwasm install` and `uninstall`:
 * read, then create or replace (with the live resourceVersion, retried on 409), reporting what changed
 * the way kubectl does. It needs only get/create/update/delete, so it works on any API server.
 */
import { KubeConfig, KubernetesObjectApi, loadYaml, type KubernetesObject } from '@kubernetes/client-node';
import { MeshwasmError } from '../errors.js';
import type { KubeObject } from '../mesh/index.js';

export interface KubeFlags {
  kubeconfig?: string;
  context?: string;
}

export type ApplyOutcome = 'created' | 'configured' | 'unchanged';

export function loadKubeConfig(flags: KubeFlags): KubeConfig {
  const kc = new KubeConfig();
  try {
    if (flags.kubeconfig) kc.loadFromFile(flags.kubeconfig);
    else kc.loadFromDefault();
    if (flags.context) kc.setCurrentContext(flags.context);
  } catch (err) {
    throw new MeshwasmError(
      'CONFIG',
      `cannot load the kubeconfig: ${err instanceof Error ? err.message : String(err)}`,
      {
        hint: 'set KUBECONFIG or pass --kubeconfig <file> (and --context <name>)',
      },
    );
  }
  if (!kc.getCurrentCluster()) {
    throw new MeshwasmError('CONFIG', 'the kubeconfig has no current cluster', {
      hint: 'set KUBECONFIG or pass --kubeconfig <file> and --context <name>',
    });
  }
  return kc;
}

/** The HTTP status of a client-node error, or undefined for network failures. */
export function statusOf(err: unknown): number | undefined {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'number' ? code : undefined;
}

/** Turns a client-node failure into a MeshwasmError that says what was being done and how to fix it. */
export function kubeError(err: unknown, what: string, server?: string): MeshwasmError {
  const status = statusOf(err);
  const detail = (err as { body?: unknown })?.body;
  let message = err instanceof Error ? err.message : String(err);
  if (typeof detail === 'string') {
    try {
      message = (JSON.parse(detail) as { message?: string }).message ?? message;
    } catch {
      // not a Status object; keep the client's message
    }
  }
  if (status === 401) {
    return new MeshwasmError('UNAUTHORIZED', `${what}: the API server rejected the credentials`, {
      hint: 'check the user in your kubeconfig (kubectl auth whoami)',
    });
  }
  if (status === 403) {
    return new MeshwasmError('DENIED', `${what}: forbidden (${message})`, {
      hint: 'installing meshwasm needs cluster-admin rights (CRDs, ClusterRoles)',
    });
  }
  if (status === undefined) {
    return new MeshwasmError(
      'NETWORK',
      `${what}: cannot reach the API server${server ? ` at ${server}` : ''} (${message})`,
      {
        hint: 'check that the cluster is up and KUBECONFIG/--context point at it',
      },
    );
  }
  return new MeshwasmError('KUBERNETES', `${what}: the API server answered ${status} (${message})`, {
    hint: 'see the message above; `kubectl get` the object to inspect it',
  });
}

export function describeObject(o: { kind: string; metadata: { name?: string; namespace?: string } }): string {
  return `${o.kind.toLowerCase()}/${o.metadata.name}${o.metadata.namespace ? ` -n ${o.metadata.namespace}` : ''}`;
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

/**
 * The client's typed model of a plain JSON object. KubernetesObjectApi serializes built-in kinds through
 * their generated models, which name some fields differently (`enum` is `_enum`, `x-kubernetes-*` use
 * underscores): a plain object would silently lose those fields, so it is converted first. Reads come
 * back in the same model shape, which is what comparisons need too.
 */
function toModel<T extends KubernetesObject>(object: unknown): T {
  return loadYaml<T>(JSON.stringify(object));
}

export class Applier {
  readonly api: KubernetesObjectApi;
  readonly server: string | undefined;

  constructor(kc: KubeConfig) {
    this.api = KubernetesObjectApi.makeApiClient(kc);
    this.server = kc.getCurrentCluster()?.server;
  }

  async read(header: KubeObject | KubernetesObject): Promise<KubernetesObject | undefined> {
    try {
      return await this.api.read({
        apiVersion: header.apiVersion!,
        kind: header.kind!,
        metadata: { name: header.metadata!.name!, namespace: header.metadata!.namespace },
      });
    } catch (err) {
      if (statusOf(err) === 404) return undefined;
      throw kubeError(err, `reading ${describeObject(header as KubeObject)}`, this.server);
    }
  }

  /**
   * Creates `desired`, or replaces the live object when it differs. With `keepData`, an existing object is
   * left as it is (the images ConfigMap: its content belongs to the controller once it runs).
   */
  async apply(desired: KubeObject, options: { keepExisting?: boolean } = {}): Promise<ApplyOutcome> {
    for (let attempt = 0; ; attempt++) {
      const live = await this.read(desired);
      try {
        if (live === undefined) {
          await this.api.create(toModel(desired));
          return 'created';
        }
        if (options.keepExisting || isSubset(toModel(stripForCompare(desired)), live)) return 'unchanged';
        // Keep what others put on the object's metadata (kubectl's annotations, extra labels, and the
        // finalizers and owners the server or other controllers rely on).
        const next = {
          ...desired,
          metadata: {
            ...desired.metadata,
            ...(live.metadata?.finalizers ? { finalizers: live.metadata.finalizers } : {}),
            ...(live.metadata?.ownerReferences ? { ownerReferences: live.metadata.ownerReferences } : {}),
            labels: { ...live.metadata?.labels, ...desired.metadata.labels },
            annotations: { ...live.metadata?.annotations, ...desired.metadata.annotations },
            resourceVersion: live.metadata?.resourceVersion,
          },
        };
        await this.api.replace(toModel(next));
        return 'configured';
      } catch (err) {
        // Someone changed it between read and write: read again (a few times) instead of failing.
        if (
          (statusOf(err) === 409 && attempt < 4) ||
          (statusOf(err) === 404 && live !== undefined && attempt < 4)
        )
          continue;
        throw kubeError(err, `applying ${describeObject(desired)}`, this.server);
      }
    }
  }

  async delete(object: KubeObject | KubernetesObject): Promise<'deleted' | 'not found'> {
    try {
      await this.api.delete(
        {
          apiVersion: object.apiVersion!,
          kind: object.kind!,
          metadata: { name: object.metadata!.name!, namespace: object.metadata!.namespace },
        },
        undefined,
        undefined,
        undefined,
        undefined,
        'Background',
      );
      return 'deleted';
    } catch (err) {
      if (statusOf(err) === 404) return 'not found';
      throw kubeError(err, `deleting ${describeObject(object as KubeObject)}`, this.server);
    }
  }
}

/** What to compare with the live object: metadata only by labels (the server adds the rest). */
function stripForCompare(desired: KubeObject): Record<string, unknown> {
  const { metadata, ...rest } = desired;
  return { ...rest, metadata: { name: metadata.name, labels: metadata.labels ?? {} } };
}

/** Every object of a custom resource; none when its CRD (`crdName`) is not installed. */
export async function listCustomResources(
  applier: Applier,
  crdName: string,
  apiVersion: string,
  kind: string,
): Promise<KubernetesObject[]> {
  const crd = await applier.read({
    apiVersion: 'apiextensions.k8s.io/v1',
    kind: 'CustomResourceDefinition',
    metadata: { name: crdName },
  });
  if (crd === undefined) return [];
  try {
    const list = await applier.api.list(apiVersion, kind);
    return list.items;
  } catch (err) {
    if (statusOf(err) === 404) return [];
    throw kubeError(err, `listing ${kind}s`, applier.server);
  }
}
