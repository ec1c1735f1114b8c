/**
 * One worker: takes keys off the queue and reconciles them while this replica leads; a failed key is
 * retried with its backoff, a result may ask for a later look (tag refresh, distribution timeout).
 */
import { isConflict } from '../kube/index.js';
import type { Logger } from '../log.js';
import { keyId, type QueueKey } from './keys.js';
import type { ControllerMetrics } from './metrics.js';
import type { WorkQueue } from './queue.js';
import type { ReconcileResult } from './reconciler.js';

export interface WorkerDeps {
  queue: WorkQueue<QueueKey>;
  reconcile: (key: QueueKey) => Promise<ReconcileResult>;
  isLeader: () => boolean;
  metrics: ControllerMetrics;
  log: Logger;
  /** told after every reconcile (a full collection follows a burst of them: ../memory.ts) */
  idle?: { worked(): void };
}

const metricKind = { filter: 'fd', workload: 'wl', images: 'images' } as const;

export async function runWorker(deps: WorkerDeps): Promise<void> {
  const { queue, metrics, log } = deps;
  for (;;) {
    const key = await queue.get();
    if (key === undefined) return;
    metrics.queueDepth.set(queue.length);
    if (!deps.isLeader()) {
      queue.done(key);
      continue; // a standby does not write; the next leader re-enqueues everything
    }
    const kind = metricKind[key.kind];
    const id = keyId(key);
    const end = metrics.reconcileSeconds.startTimer({ kind });
    try {
      const result = await deps.reconcile(key);
      log.debug({ key: id, requeueAfterMs: result.requeueAfterMs }, 'reconciled');
      queue.forget(key);
      if (result.requeueAfterMs !== undefined && Number.isFinite(result.requeueAfterMs))
        queue.addAfter(key, result.requeueAfterMs);
      metrics.reconciles.inc({ kind, result: 'ok' });
    } catch (err) {
      const delay = queue.addRateLimited(key);
      metrics.reconciles.inc({ kind, result: 'error' });
      // Conflicts are the normal price of optimistic concurrency: the retry reads the newer version.
      const level = isConflict(err) ? 'debug' : 'warn';
      log[level]({ key: id, err: (err as Error).message, retryInMs: delay }, 'reconcile failed');
    } finally {
      end();
      queue.done(key);
      deps.idle?.worked();
    }
  }
}
