/**
 * Kubernetes Events (core/v1) about an object, as `kubectl describe` shows them. Repeats of the same
 * reason and message on the same object within the dedup window bump the count of the existing Event
 * instead of creating a new one. Recording never throws: an Event that cannot be written is logged.
 */
import { randomBytes } from 'node:crypto';
import type { Logger } from '../log.js';
import type { KubeClient, KubeObject } from './client.js';
import { Resources } from './resources.js';

export type EventType = 'Normal' | 'Warning';

const microTime = (d = new Date()): string => d.toISOString().replace(/\.(\d{3})Z$/, '.$1000Z');
const time = (d = new Date()): string => d.toISOString().replace(/\.\d{3}Z$/, 'Z');

export class EventRecorder {
  private readonly seen = new Map<string, { name: string; count: number; at: number }>();

  constructor(
    private readonly client: KubeClient,
    private readonly component: string,
    private readonly instance: string,
    private readonly log: Logger,
    private readonly dedupWindowMs = 10 * 60_000,
  ) {}

  async record(obj: KubeObject, type: EventType, reason: string, message: string): Promise<void> {
    const ns = obj.metadata.namespace ?? 'default';
    const key = `${obj.metadata.uid}/${type}/${reason}/${message}`;
    const now = new Date();
    const prior = this.seen.get(key);
    try {
      if (prior && now.getTime() - prior.at < this.dedupWindowMs) {
        prior.count++;
        prior.at = now.getTime();
        await this.client.patch(Resources.events, ns, prior.name, {
          count: prior.count,
          lastTimestamp: time(now),
        });
        return;
      }
      const name = `${obj.metadata.name}.${randomBytes(8).toString('hex')}`;
      await this.client.create(Resources.events, {
        apiVersion: 'v1',
        kind: 'Event',
        metadata: { name, namespace: ns },
        involvedObject: {
          apiVersion: obj.apiVersion,
          kind: obj.kind,
          name: obj.metadata.name,
          namespace: obj.metadata.namespace,
          uid: obj.metadata.uid,
          resourceVersion: obj.metadata.resourceVersion,
        },
        type,
        reason,
        message,
        count: 1,
        firstTimestamp: time(now),
        lastTimestamp: time(now),
        eventTime: microTime(now),
        reportingComponent: this.component,
        reportingInstance: this.instance,
        action: reason,
        source: { component: this.component },
      });
      this.seen.set(key, { name, count: 1, at: now.getTime() });
      if (this.seen.size > 10_000) this.seen.delete(this.seen.keys().next().value!);
    } catch (err) {
      this.log.warn(
        { err: (err as Error).message, reason, object: `${ns}/${obj.metadata.name}` },
        'could not record event',
      );
    }
  }
}
