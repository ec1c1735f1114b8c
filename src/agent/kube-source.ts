/**
 * The wanted set and credentials in a cluster: the ConfigMap `<ns>/asmwasm-images` (key `images`) and
 * the pull secret `<ns>/asmwasm-cache` (`.dockerconfigjson`), both watched (list + watch, resumed from
 * the last resourceVersion, re-listed after 410). RBAC grants the agent these two names only, so both
 * are listed and watched with the field selector `metadata.name=<name>`.
 */
import {
  CoreV1Api,
  ListWatch,
  Watch,
  type KubeConfig,
  type KubernetesObject,
  type V1ConfigMap,
  type V1Secret,
} from '@kubernetes/client-node';
import type { Logger } from '../log.js';
import { IMAGES_CONFIGMAP_KEY } from '../mesh/types.js';
import { parseImagesList } from '../mesh/images.js';
import { DockerConfig } from '../oci/index.js';
import type { Source } from './file-source.js';

export interface KubeSourceHandlers {
  wanted(references: string[]): void;
  /** the secret's `.dockerconfigjson` text, or undefined when there is no (valid) secret: anonymous pulls */
  credentials(dockerConfigJson: string | undefined): void;
}

export interface KubeSourceOptions {
  kubeConfig: KubeConfig;
  namespace: string;
  configMap: string;
  pullSecret: string;
  log: Logger;
  handlers: KubeSourceHandlers;
  /** restart delay after a failed list or watch (doubles up to 30 s) */
  retryBaseMs?: number;
}

const DOCKER_CONFIG_KEY = '.dockerconfigjson';

/** Watches one named object; `onChange(undefined)` when it does not exist (after the first list too). */
async function watchNamed<T extends KubernetesObject>(options: {
  kubeConfig: KubeConfig;
  path: string;
  name: string;
  list: (fieldSelector: string) => Promise<{ items: T[]; metadata?: { resourceVersion?: string } }>;
  onChange: (obj: T | undefined) => void;
  log: Logger;
  retryBaseMs: number;
  what: string;
}): Promise<() => Promise<void>> {
  const fieldSelector = `metadata.name=${options.name}`;
  let listed: () => void = () => undefined;
  const firstList = new Promise<void>((resolve) => (listed = resolve));
  // Every (re)list delivers the object's state, absence included; watch events deliver changes.
  const list = async () => {
    const result = await options.list(fieldSelector);
    options.onChange(result.items.find((o) => o.metadata?.name === options.name));
    delay = options.retryBaseMs;
    listed();
    return result;
  };
  const informer = new ListWatch<T>(
    options.path,
    new Watch(options.kubeConfig),
    list as never,
    false,
    undefined,
    fieldSelector,
  );
  let stopped = false;
  let delay = options.retryBaseMs;
  let timer: NodeJS.Timeout | undefined;
  informer.on('add', (o) => options.onChange(o));
  informer.on('update', (o) => options.onChange(o));
  informer.on('delete', () => options.onChange(undefined));
  const fail = (err: unknown) => {
    if (stopped) return;
    options.log.warn(
      { what: options.what, err: (err as Error)?.message ?? String(err), retryInMs: delay },
      'list or watch failed; restarting',
    );
    timer = setTimeout(() => {
      if (!stopped) informer.start().catch(fail);
    }, delay);
    delay = Math.min(delay * 2, 30_000);
  };
  informer.on('error', fail);
  // Nothing is known, so nothing may be delivered, until the first list has succeeded.
  await informer.start().catch(fail);
  await firstList;
  return async () => {
    stopped = true;
    if (timer) clearTimeout(timer);
    await informer.stop();
  };
}

export async function startKubeSource(options: KubeSourceOptions): Promise<Source> {
  const api = options.kubeConfig.makeApiClient(CoreV1Api);
  const { namespace, log, handlers } = options;
  const retryBaseMs = options.retryBaseMs ?? 1000;
  let lastImages: string | undefined | null = null;
  let lastSecret: string | undefined | null = null;

  // Credentials first, so the first pulls already use them.
  const stopSecret = await watchNamed<V1Secret>({
    kubeConfig: options.kubeConfig,
    path: `/api/v1/namespaces/${namespace}/secrets`,
    name: options.pullSecret,
    list: (fieldSelector) => api.listNamespacedSecret({ namespace, fieldSelector }),
    log,
    retryBaseMs,
    what: `secret ${namespace}/${options.pullSecret}`,
    onChange: (secret) => {
      const encoded = secret?.data?.[DOCKER_CONFIG_KEY];
      let text = encoded === undefined ? undefined : Buffer.from(encoded, 'base64').toString('utf8');
      if (text !== undefined) {
        try {
          DockerConfig.fromJson(text, `secret ${namespace}/${options.pullSecret}`);
        } catch (err) {
          // Never log the secret or a parser message quoting it.
          log.error(
            { secret: `${namespace}/${options.pullSecret}`, err: (err as Error).message },
            'the pull secret is not a valid dockerconfigjson; pulling anonymously',
          );
          text = undefined;
        }
      } else if (secret) {
        log.warn(
          { secret: `${namespace}/${options.pullSecret}` },
          `the pull secret has no ${DOCKER_CONFIG_KEY} key; pulling anonymously`,
        );
      }
      if (text === lastSecret) return;
      lastSecret = text;
      log.info(
        { secret: `${namespace}/${options.pullSecret}`, present: text !== undefined },
        'pull secret loaded',
      );
      handlers.credentials(text);
    },
  });
  const stopImages = await watchNamed<V1ConfigMap>({
    kubeConfig: options.kubeConfig,
    path: `/api/v1/namespaces/${namespace}/configmaps`,
    name: options.configMap,
    list: (fieldSelector) => api.listNamespacedConfigMap({ namespace, fieldSelector }),
    log,
    retryBaseMs,
    what: `configmap ${namespace}/${options.configMap}`,
    onChange: (configMap) => {
      const text = configMap?.data?.[IMAGES_CONFIGMAP_KEY] ?? '';
      if (text === lastImages) return;
      lastImages = text;
      handlers.wanted(parseImagesList(text));
    },
  });
  return {
    async stop() {
      await stopImages();
      await stopSecret();
    },
  };
}
