/**
 * Leader election on a coordination.k8s.io/v1 Lease, as client-go does it: the holder renews
 * `renewTime` every retry period; a candidate takes the lease over only after it has watched the record
 * stay unchanged for a full lease duration (measured on its own clock, so clock skew between nodes does
 * not matter); every write carries the resourceVersion it read, so two candidates cannot both win.
 * A leader that cannot renew within the renew deadline steps down before anyone else may take over.
 */
import type { Logger } from '../log.js';
import { isConflict, isNotFound, isAlreadyExists, type KubeClient, type KubeObject } from './client.js';
import { Resources } from './resources.js';

export interface LeaderElectionOptions {
  namespace: string;
  name: string;
  identity: string;
  leaseDurationMs?: number; // default 15 s
  renewDeadlineMs?: number; // default 10 s
  retryPeriodMs?: number; // default 2 s
}

interface LeaseSpec {
  holderIdentity?: string;
  leaseDurationSeconds?: number;
  acquireTime?: string;
  renewTime?: string;
  leaseTransitions?: number;
}
type Lease = KubeObject & { spec?: LeaseSpec };

const microTime = (d = new Date()): string => d.toISOString().replace(/\.(\d{3})Z$/, '.$1000Z');

export class LeaderElector {
  private leading = false;
  private stopped = false;
  private timer: NodeJS.Timeout | undefined;
  private observed: { record: string; at: number } | undefined;
  private lastRenew = 0;
  private readonly duration: number;
  private readonly deadline: number;
  private readonly retry: number;

  constructor(
    private readonly client: KubeClient,
    private readonly opts: LeaderElectionOptions,
    private readonly callbacks: { onStartedLeading(): void; onStoppedLeading(): void },
    private readonly log: Logger,
  ) {
    this.duration = opts.leaseDurationMs ?? 15_000;
    this.deadline = opts.renewDeadlineMs ?? 10_000;
    this.retry = opts.retryPeriodMs ?? 2_000;
  }

  isLeader(): boolean {
    return this.leading;
  }

  start(): void {
    this.stopped = false;
    void this.tick();
  }

  private schedule(): void {
    if (!this.stopped)
      this.timer = setTimeout(
        () => void this.tick(),
        this.leading ? this.retry : this.retry * (0.8 + Math.random() * 0.4),
      );
  }

  private async tick(): Promise<void> {
    try {
      const ok = await this.tryAcquireOrRenew();
      if (ok) this.lastRenew = Date.now();
      if (ok && !this.leading && !this.stopped) {
        this.leading = true;
        this.log.info(
          { lease: `${this.opts.namespace}/${this.opts.name}`, identity: this.opts.identity },
          'became leader',
        );
        this.callbacks.onStartedLeading();
      }
    } catch (err) {
      this.log.warn({ err: (err as Error).message }, 'leader election: lease request failed');
    }
    if (this.leading && Date.now() - this.lastRenew > this.deadline)
      this.stepDown('could not renew the lease in time');
    this.schedule();
  }

  private stepDown(why: string): void {
    if (!this.leading) return;
    this.leading = false;
    this.log.warn({ why }, 'stopped leading');
    this.callbacks.onStoppedLeading();
  }

  private async tryAcquireOrRenew(): Promise<boolean> {
    const { namespace, name, identity } = this.opts;
    const now = new Date();
    const lease = await this.client.find<Lease>(Resources.leases, namespace, name);
    const mine: LeaseSpec = {
      holderIdentity: identity,
      leaseDurationSeconds: Math.ceil(this.duration / 1000),
      acquireTime: microTime(now),
      renewTime: microTime(now),
      leaseTransitions: 0,
    };
    if (!lease) {
      try {
        await this.client.create<Lease>(Resources.leases, {
          apiVersion: 'coordination.k8s.io/v1',
          kind: 'Lease',
          metadata: { name, namespace },
          spec: mine,
        });
        return true;
      } catch (e) {
        if (isAlreadyExists(e)) return false;
        throw e;
      }
    }
    const spec = lease.spec ?? {};
    const record = JSON.stringify([spec.holderIdentity, spec.renewTime, spec.leaseTransitions]);
    if (this.observed?.record !== record) this.observed = { record, at: Date.now() };
    const held = spec.holderIdentity === identity;
    const vacant = !spec.holderIdentity;
    const expired =
      Date.now() - this.observed.at > (spec.leaseDurationSeconds ?? this.duration / 1000) * 1000;
    if (!held && !vacant && !expired) return false;
    const next: LeaseSpec = held
      ? { ...spec, renewTime: microTime(now), leaseDurationSeconds: mine.leaseDurationSeconds }
      : { ...mine, leaseTransitions: (spec.leaseTransitions ?? 0) + 1 };
    try {
      await this.client.replace<Lease>(Resources.leases, { ...lease, spec: next });
      return true;
    } catch (e) {
      if (isConflict(e) || isNotFound(e)) return false;
      throw e;
    }
  }

  /** Stops competing; a leader releases the lease so a standby can take over at once. */
  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    if (!this.leading) return;
    this.stepDown('stopping');
    try {
      const lease = await this.client.find<Lease>(Resources.leases, this.opts.namespace, this.opts.name);
      if (lease?.spec?.holderIdentity === this.opts.identity)
        await this.client.replace<Lease>(Resources.leases, {
          ...lease,
          spec: { ...lease.spec, holderIdentity: '', leaseDurationSeconds: 1, renewTime: microTime() },
        });
    } catch (err) {
      this.log.warn({ err: (err as Error).message }, 'could not release the lease');
    }
  }
}
