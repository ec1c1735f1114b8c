/** The controller's pure parts: the work queue, status conditions, agent reports. */
import { describe, expect, it } from 'vitest';
import { WorkQueue } from '../../src/controller/queue.js';
import { filterKey, IMAGES_KEY, keyId, workloadKey, type QueueKey } from '../../src/controller/keys.js';
import { buildConditions, sameStatus, statusPatch } from '../../src/controller/status.js';
import { distribution, reportedDigests, type AgentPod } from '../../src/controller/agents.js';

describe('WorkQueue', () => {
  it('deduplicates keys, never hands one key to two workers, and requeues a key added while in flight', async () => {
    const q = new WorkQueue();
    q.add('a');
    q.add('a');
    q.add('b');
    expect(q.length).toBe(2);
    const first = await q.get();
    expect(first).toBe('a');
    q.add('a'); // while "a" is being processed
    expect(await q.get()).toBe('b');
    let third: string | undefined = 'pending';
    const waiting = q.get().then((k) => (third = k));
    await new Promise((r) => setTimeout(r, 10));
    expect(third).toBe('pending'); // "a" is not handed out again while in flight
    q.done('a');
    await waiting;
    expect(third).toBe('a');
  });

  it('deduplicates typed keys by their id, and hands back the key value', async () => {
    const q = new WorkQueue<QueueKey>({ id: keyId });
    q.add(filterKey('ns', 'a'));
    q.add({ kind: 'filter', namespace: 'ns', name: 'a' });
    q.add(workloadKey('Deployment', 'ns', 'a'));
    q.add(IMAGES_KEY);
    expect(q.length).toBe(3);
    expect(await q.get()).toEqual(filterKey('ns', 'a'));
    q.add(filterKey('ns', 'a')); // while in flight: requeued by done()
    expect(await q.get()).toEqual(workloadKey('Deployment', 'ns', 'a'));
    expect(await q.get()).toBe(IMAGES_KEY);
    q.done(filterKey('ns', 'a'));
    expect(await q.get()).toEqual(filterKey('ns', 'a'));
    expect(keyId(workloadKey('StatefulSet', 'n', 'w'))).toBe('wl/StatefulSet/n/w');
    q.shutDown();
  });

  it('backs off per key and resets on forget', () => {
    const q = new WorkQueue({ baseDelayMs: 10, maxDelayMs: 50 });
    expect([
      q.addRateLimited('k'),
      q.addRateLimited('k'),
      q.addRateLimited('k'),
      q.addRateLimited('k'),
    ]).toEqual([10, 20, 40, 50]);
    expect(q.retries('k')).toBe(4);
    q.forget('k');
    expect(q.addRateLimited('k')).toBe(10);
    q.shutDown();
  });

  it('lets the earliest of several delayed adds win, and ends waiting workers on shutdown', async () => {
    const q = new WorkQueue();
    q.addAfter('k', 60_000);
    q.addAfter('k', 5);
    expect(await q.get()).toBe('k');
    q.done('k');
    const pending = q.get();
    q.shutDown();
    expect(await pending).toBeUndefined();
  });
});

describe('status', () => {
  it('keeps lastTransitionTime while a condition keeps its status', () => {
    const old = [
      {
        type: 'Ready' as const,
        status: 'False' as const,
        reason: 'Distributing',
        message: 'a',
        lastTransitionTime: '2020-01-01T00:00:00Z',
      },
    ];
    const same = buildConditions(
      old,
      [{ type: 'Ready', status: 'False', reason: 'DistributionTimeout', message: 'b' }],
      2,
    );
    expect(same[0]).toMatchObject({
      lastTransitionTime: '2020-01-01T00:00:00Z',
      reason: 'DistributionTimeout',
      observedGeneration: 2,
    });
    const flipped = buildConditions(
      old,
      [{ type: 'Ready', status: 'True', reason: 'Applied', message: 'c' }],
      2,
    );
    expect(flipped[0]!.lastTransitionTime).not.toBe('2020-01-01T00:00:00Z');
  });

  it('compares statuses without timestamps and patches removed fields to null', () => {
    const a = {
      digest: 'd',
      missingNodes: ['n'],
      conditions: [
        {
          type: 'Ready' as const,
          status: 'True' as const,
          reason: 'r',
          message: 'm',
          lastTransitionTime: 't1',
        },
      ],
    };
    const b = {
      digest: 'd',
      missingNodes: ['n'],
      conditions: [
        {
          type: 'Ready' as const,
          status: 'True' as const,
          reason: 'r',
          message: 'm',
          lastTransitionTime: 't2',
        },
      ],
    };
    expect(sameStatus(a, b)).toBe(true);
    expect(sameStatus(a, { ...b, digest: 'e' })).toBe(false);
    expect(statusPatch(a, { digest: 'e' })).toEqual({
      status: { digest: 'e', missingNodes: null, conditions: null },
    });
  });
});

describe('agent reports', () => {
  const pod = (name: string, node: string | undefined, ready: boolean, annotation?: string): AgentPod => ({
    metadata: {
      name,
      annotations: annotation === undefined ? {} : { 'wasm.meshwasm.io/modules': annotation },
    },
    spec: node ? { nodeName: node } : {},
    status: { conditions: [{ type: 'Ready', status: ready ? 'True' : 'False' }] },
  });

  it('counts only ready agents and names the nodes that lack the digest', () => {
    const pods = [
      pod('a', 'node-a', true, '["sha256:1","sha256:2"]'),
      pod('b', 'node-b', true, '["sha256:2"]'),
      pod('c', 'node-c', false, '[]'),
      pod('d', undefined, true, 'not json'),
    ];
    expect(distribution(pods, 'sha256:1')).toEqual({ readyAgents: 3, missing: ['d', 'node-b'] });
    expect(distribution(pods.slice(0, 2), 'sha256:2')).toEqual({ readyAgents: 2, missing: [] });
    expect([...reportedDigests(pod('x', 'n', true, '[1,"sha256:9"]'))]).toEqual(['sha256:9']);
  });
});
