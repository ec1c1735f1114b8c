/**
 * The wanted set and credentials in a cluster: the ConfigMap `<ns>/asmwasm-images` (key `images`) and
 * the pull secret `<ns>/asmwasm-cache` (`.dockerconfigjson`), both watched through src/kube's informers
 * (list + watch, resumed from the last resourceVersion, re-listed after 410, restarted after errors).
 * RBAC grants the agent these two names only, so both are listed and watched with the field selector
 * `metadata.name=<name>`.
 */
import type { KubeConnection } from '../kube/config.js';
import { Informer, KubeClient, Resources, type KubeObject, type ResourceRef } from '../kube/index.js';
import type { Logger } from '../log.js';
import { parseImagesList } from '../mesh/images.js';
import { IMAGES_CONFIGMAP_KEY } from '../mesh/types.js';
import { DockerConfig } from '../oci/index.js';
import type { Source } from './file-source.js';

export interface KubeSourceHandlers {
  wanted(references: string[]): void;
  /** the secret's `.dockerconfigjson` text, or undefined when there is no (valid) secret: anonymous pulls */
  credentials(dockerConfigJson: string | undefined): void;
}

export interface KubeSourceOptions {
  kubeConfig: KubeConnection;
  namespace: string;
  configMap: string;
  pullSecret: string;
  log: Logger;
  handlers: KubeSourceHandlers;
}

interface WithData extends KubeObject {
  data?: Record<string, string>;
}

const DOCKER_CONFIG_KEY = '.dockerconfigjson';

/** Watches one named object; `onChange(undefined)` when it does not exist. Resolves after the first list. */
async function watchNamed(
  client: KubeClient,
  resource: ResourceRef,
  namespace: string,
  name: string,
  log: Logger,
  onChange: (obj: WithData | undefined) => void,
): Promise<Informer<WithData>> {
  const informer = new Informer<WithData>(
    client,
    resource,
    {
      add: (o) => onChange(o),
      update: (o) => onChange(o),
      delete: () => onChange(undefined),
    },
    log,
    { namespace, fieldSelector: `metadata.name=${name}` },
  );
  // Nothing is known, so nothing is delivered, until the first list has succeeded.
  await informer.start();
  onChange(informer.get(name, namespace));
  return informer;
}

export async function startKubeSource(options: KubeSourceOptions): Promise<Source> {
  const client = new KubeClient(options.kubeConfig);
  const { namespace, log, handlers } = options;
  const secretName = `${namespace}/${options.pullSecret}`;
  let lastImages: string | null = null;
  let lastSecret: string | undefined | null = null;

  // Credentials first, so the first pulls already use them.
  const secrets = await watchNamed(
    client,
    Resources.secrets,
    namespace,
    options.pullSecret,
    log,
    (secret) => {
      const encoded = secret?.data?.[DOCKER_CONFIG_KEY];
      let text = encoded === undefined ? undefined : Buffer.from(encoded, 'base64').toString('utf8');
      if (text !== undefined) {
        try {
          DockerConfig.fromJson(text, `secret ${secretName}`);
        } catch (err) {
          // The message names the secret and never quotes its content.
          log.error(
            { secret: secretName, err: (err as Error).message },
            'the pull secret is not a valid dockerconfigjson; pulling anonymously',
          );
          text = undefined;
        }
      } else if (secret) {
        log.warn(
          { secret: secretName },
          `the pull secret has no ${DOCKER_CONFIG_KEY} key; pulling anonymously`,
        );
      }
      if (text === lastSecret) return;
      lastSecret = text;
      log.info({ secret: secretName, present: text !== undefined }, 'pull secret loaded');
      handlers.credentials(text);
    },
  );
  const configMaps = await watchNamed(
    client,
    Resources.configMaps,
    namespace,
    options.configMap,
    log,
    (configMap) => {
      const text = configMap?.data?.[IMAGES_CONFIGMAP_KEY] ?? '';
      if (text === lastImages) return;
      lastImages = text;
      handlers.wanted(parseImagesList(text));
    },
  );
  return {
    async stop() {
      await configMaps.stop();
      await secrets.stop();
    },
  };
}
