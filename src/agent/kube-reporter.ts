/**
 * Reports to Kubernetes: the pod annotation `wasm.meshwasm.io/modules` (JSON array of the manifest
 * digests present and verified; the controller reads it before it applies an EnvoyFilter) and Events on
 * the agent's pod (src/kube's EventRecorder: repeats bump the count). Annotation patches are serialised
 * and coalesced (only the latest set is written) and retried with backoff; Events never block the agent.
 */
import type { KubeConnection } from '../kube/config.js';
import { EventRecorder, KubeClient, Resources, type KubeObject } from '../kube/index.js';
import type { Logger } from '../log.js';
import { AGENT_NAME, MODULES_ANNOTATION } from '../mesh/types.js';
import type { AgentEvent, Reporter } from './reporter.js';

export interface KubeReporterOptions {
  kubeConfig: KubeConnection;
  podName: string;
  podNamespace: string;
  log: Logger;
  retryBaseMs?: number;
}

export function createKubeReporter(options: KubeReporterOptions): Reporter {
  const client = new KubeClient(options.kubeConfig);
  const { podName, podNamespace, log } = options;
  const recorder = new EventRecorder(client, AGENT_NAME, podName, log);
  const retryBaseMs = options.retryBaseMs ?? 1000;
  let wanted: string | undefined;
  let written: string | undefined;
  let running: Promise<void> | undefined;
  let closed = false;
  let pod: KubeObject | undefined;
  const pendingEvents = new Set<Promise<void>>();

  const writeLoop = async () => {
    let delay = retryBaseMs;
    while (!closed && wanted !== undefined && wanted !== written) {
      const value = wanted;
      try {
        await client.patch(
          Resources.pods,
          podNamespace,
          podName,
          { metadata: { annotations: { [MODULES_ANNOTATION]: value } } },
          'merge',
        );
        written = value;
        delay = retryBaseMs;
        log.debug({ annotation: MODULES_ANNOTATION, value }, 'pod annotation written');
      } catch (err) {
        log.warn(
          { pod: `${podNamespace}/${podName}`, err: (err as Error).message, retryInMs: delay },
          'cannot write the modules annotation; retrying',
        );
        await new Promise((r) => setTimeout(r, delay).unref());
        delay = Math.min(delay * 2, 30_000);
      }
    }
  };

  const ensureWriting = () => {
    running ??= writeLoop().finally(() => {
      running = undefined;
      if (!closed && wanted !== written) ensureWriting();
    });
  };

  /** The pod as Events reference it (with its uid); read once. */
  const podObject = async (): Promise<KubeObject> => {
    pod ??= await client.get<KubeObject>(Resources.pods, podNamespace, podName);
    return pod;
  };

  return {
    modules(digests) {
      wanted = JSON.stringify(digests);
      ensureWriting();
    },
    event(event: AgentEvent) {
      if (closed) return;
      const p = podObject()
        .then((obj) =>
          recorder.record(
            { apiVersion: 'v1', kind: 'Pod', ...obj },
            event.type,
            event.reason,
            event.message.slice(0, 1024),
          ),
        )
        .catch((err: unknown) => {
          log.warn({ reason: event.reason, err: (err as Error).message }, 'cannot create a Kubernetes Event');
        })
        .finally(() => pendingEvents.delete(p));
      pendingEvents.add(p);
    },
    async close() {
      // One more chance for what is pending, bounded so shutdown never hangs on the API server.
      const flush = Promise.allSettled([running, ...pendingEvents]);
      await Promise.race([flush, new Promise((r) => setTimeout(r, 2000).unref())]);
      closed = true;
    },
  };
}
