/**
 * Reports to Kubernetes: the pod annotation `wasm.meshwasm.io/modules` (JSON array of the manifest
 * digests present and verified; the controller reads it before it applies an EnvoyFilter) and Events on
 * the agent's pod. Annotation patches are serialised and coalesced (only the latest set is written) and
 * retried with backoff; Events are best effort and never block the agent.
 */
import {
  CoreV1Api,
  PatchStrategy,
  setHeaderOptions,
  type CoreV1Event,
  type KubeConfig,
} from '@kubernetes/client-node';
import type { Logger } from '../log.js';
import { AGENT_NAME, MODULES_ANNOTATION } from '../mesh/types.js';
import type { AgentEvent, Reporter } from './reporter.js';

export interface KubeReporterOptions {
  kubeConfig: KubeConfig;
  podName: string;
  podNamespace: string;
  nodeName?: string;
  log: Logger;
  retryBaseMs?: number;
}

export function createKubeReporter(options: KubeReporterOptions): Reporter {
  const api = options.kubeConfig.makeApiClient(CoreV1Api);
  const { podName, podNamespace, log } = options;
  const retryBaseMs = options.retryBaseMs ?? 1000;
  let wanted: string | undefined;
  let written: string | undefined;
  let running: Promise<void> | undefined;
  let closed = false;
  let podUid: string | undefined;
  const pendingEvents = new Set<Promise<void>>();

  const writeLoop = async () => {
    let delay = retryBaseMs;
    while (!closed && wanted !== undefined && wanted !== written) {
      const value = wanted;
      try {
        await api.patchNamespacedPod(
          {
            name: podName,
            namespace: podNamespace,
            body: { metadata: { annotations: { [MODULES_ANNOTATION]: value } } },
          },
          setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
        );
        written = value;
        delay = retryBaseMs;
        log.debug({ annotation: MODULES_ANNOTATION, value }, 'pod annotation written');
      } catch (err) {
        log.warn(
          { pod: `${podNamespace}/${podName}`, err: errorText(err), retryInMs: delay },
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

  const uid = async () => {
    if (podUid === undefined) {
      const pod = await api.readNamespacedPod({ name: podName, namespace: podNamespace });
      podUid = pod.metadata?.uid;
    }
    return podUid;
  };

  const sendEvent = async (event: AgentEvent) => {
    const now = new Date();
    const body: CoreV1Event = {
      metadata: { generateName: `${podName}.`, namespace: podNamespace },
      involvedObject: {
        apiVersion: 'v1',
        kind: 'Pod',
        name: podName,
        namespace: podNamespace,
        uid: await uid().catch(() => undefined),
      },
      reason: event.reason,
      message: event.message.slice(0, 1024),
      type: event.type,
      count: 1,
      firstTimestamp: now,
      lastTimestamp: now,
      source: { component: AGENT_NAME, ...(options.nodeName ? { host: options.nodeName } : {}) },
      reportingComponent: AGENT_NAME,
      reportingInstance: podName,
    };
    await api.createNamespacedEvent({ namespace: podNamespace, body });
  };

  return {
    modules(digests) {
      wanted = JSON.stringify(digests);
      ensureWriting();
    },
    event(event) {
      if (closed) return;
      const p = sendEvent(event)
        .catch((err: unknown) => {
          log.warn({ reason: event.reason, err: errorText(err) }, 'cannot create a Kubernetes Event');
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

function errorText(err: unknown): string {
  const e = err as { code?: number; body?: unknown; message?: string };
  if (typeof e?.code === 'number')
    return `HTTP ${e.code}: ${typeof e.body === 'string' ? e.body.slice(0, 300) : ''}`;
  return e?.message ?? String(err);
}
