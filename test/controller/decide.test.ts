/** The controller's decision for one ASMFilterDeployment, outcome by outcome (pure: no cluster, no clock). */
import { describe, expect, it } from 'vitest';
import { decideFilter, type FilterInput } from '../../src/controller/decide.js';
import { filterKey, IMAGES_KEY, workloadKey } from '../../src/controller/keys.js';
import type { FilterDeploymentObject, Workload } from '../../src/controller/types.js';
import { validateFilterDeployment, workloadPatch, type WorkloadMergePatch } from '../../src/mesh/index.js';

const D1 = `sha256:${'1'.repeat(64)}`;
const D2 = `sha256:${'2'.repeat(64)}`;
const NOW = 1_000_000;

function cr(
  extra: { image?: string; pullPolicy?: string; matched?: string[]; meshConfig?: string } = {},
): FilterDeploymentObject {
  return {
    apiVersion: 'istio.alibabacloud.com/v1beta1',
    kind: 'ASMFilterDeployment',
    metadata: { name: 'f', namespace: 'apps', generation: 3, uid: 'u' },
    spec: {
      ...(extra.meshConfig ? { meshConfig: extra.meshConfig } : {}),
      workload: { kind: 'Deployment', labels: { app: 'details' } },
      filter: {
        patchContext: 'SIDECAR_INBOUND',
        parameters: '{"a":1}',
        image: extra.image ?? 'registry.example/filters/hello:v1',
        rootID: 'my_root_id',
        id: 'f.apps',
        ...(extra.pullPolicy ? { imagePullPolicy: extra.pullPolicy } : {}),
      },
    },
    ...(extra.matched ? { status: { matchedWorkloads: extra.matched } } : {}),
  } as FilterDeploymentObject;
}

const patched = (workloadPatch(undefined, true) as WorkloadMergePatch).spec.template.metadata.annotations;
function workload(name: string, withVolume = true): Workload {
  return {
    metadata: { name, namespace: 'apps' },
    spec: {
      template: {
        metadata: {
          labels: { app: 'details' },
          ...(withVolume ? { annotations: patched as Record<string, string> } : {}),
        },
      },
    },
  };
}

function input(over: Partial<FilterInput> & { object?: FilterDeploymentObject } = {}): FilterInput {
  const object = 'object' in over ? over.object : cr();
  return {
    now: NOW,
    cr: object,
    validation: object ? validateFilterDeployment(object) : undefined,
    resolution: { digest: D1 },
    owned: {},
    served: { EnvoyFilter: true, WasmPlugin: true },
    workloads: [workload('details-v1')],
    agents: { readyAgents: 2, missing: [] },
    waiting: undefined,
    options: { namespace: 'istio-system', distributionTimeoutMs: 60_000, tagRefreshMs: 5_000 },
    ...over,
  };
}

const ready = (d: ReturnType<typeof decideFilter>) => d.status?.conditions.find((c) => c.type === 'Ready');
const pinned = (digest: string) => `registry.example/filters/hello@${digest}`;

describe('decideFilter', () => {
  it('Gone: drops the contribution and the waiting state, re-checks the namespace workloads', () => {
    const d = decideFilter(input({ object: undefined }));
    expect(d).toMatchObject({
      outcome: 'Gone',
      imagesAfter: 'forget',
      waiting: 'clear',
      recheckNamespace: true,
      meshConfig: { action: 'keep' },
      enqueue: [IMAGES_KEY],
    });
    expect(d.status).toBeUndefined();
  });

  it('InvalidSpec: removes the mesh config, says which field on all three conditions, no retry', () => {
    const bad = cr();
    (bad.spec.filter as { patchContext: string }).patchContext = 'NOWHERE';
    const d = decideFilter(input({ object: bad }));
    expect(d.outcome).toBe('InvalidSpec');
    expect(d.meshConfig).toEqual({ action: 'remove' });
    expect(d.imagesAfter).toBe('forget');
    expect(d.error).toBeUndefined();
    expect(d.status!.conditions.map((c) => [c.type, c.status, c.reason])).toEqual([
      ['ImageResolved', 'False', 'InvalidSpec'],
      ['ModuleDistributed', 'False', 'InvalidSpec'],
      ['Ready', 'False', 'InvalidSpec'],
    ]);
    expect(ready(d)!.message).toContain('spec.filter.patchContext');
  });

  it('ResolveFailed without a kept digest: nothing for the nodes, an error to retry with backoff', () => {
    const d = decideFilter(input({ resolution: { problem: 'connection refused' } }));
    expect(d.outcome).toBe('ResolveFailed');
    expect([...d.images!]).toEqual([]);
    expect(d.meshConfig).toEqual({ action: 'keep' });
    expect(d.error).toContain('cannot resolve registry.example/filters/hello:v1: connection refused');
    expect(d.status!.fields).toEqual({ digest: undefined });
    expect(ready(d)!.message).not.toContain('keeps');
  });

  it('ResolveFailed with a kept digest: the applied module stays on the nodes and in the status', () => {
    const d = decideFilter(
      input({ resolution: { problem: 'unauthorized' }, owned: { EnvoyFilter: { name: 'ef', digest: D1 } } }),
    );
    expect(d.outcome).toBe('ResolveFailed');
    expect([...d.images!]).toEqual([pinned(D1)]);
    expect(d.meshConfig).toEqual({ action: 'keep' });
    expect(d.status!.fields).toEqual({ digest: D1 });
    expect(ready(d)!.message).toContain(`EnvoyFilter ef keeps the module ${D1}`);
    expect(d.error).toBeDefined();
  });

  it('RenderFailed: a digest that is not one fails the reconcile without writing status', () => {
    const d = decideFilter(input({ resolution: { digest: 'sha256:short' } }));
    expect(d.outcome).toBe('RenderFailed');
    expect(d.status).toBeUndefined();
    expect(d.images).toBeUndefined();
    expect(d.error).toContain('"sha256:short" is not a manifest digest');
  });

  it('NoReadyAgents: waits, says the DaemonSet may not be running', () => {
    const d = decideFilter(input({ agents: { readyAgents: 0, missing: [] } }));
    expect(d.outcome).toBe('NoReadyAgents');
    expect(d.meshConfig).toEqual({ action: 'keep' });
    expect(d.waiting).toEqual({ digest: D1, since: NOW });
    expect(ready(d)!.message).toContain('no ready meshwasm agent pod in istio-system');
    expect(d.requeueAfterMs).toBe(60_010);
  });

  it('Distributing: names the missing nodes, holds the applied digest, requeues at the timeout', () => {
    const d = decideFilter(
      input({
        resolution: { digest: D2 },
        owned: { EnvoyFilter: { name: 'ef', digest: D1 } },
        agents: { readyAgents: 3, missing: ['node-c'] },
        waiting: { digest: D2, since: NOW - 20_000 },
      }),
    );
    expect(d.outcome).toBe('Distributing');
    expect([...d.images!].sort()).toEqual([pinned(D1), pinned(D2)]);
    expect(d.meshConfig).toEqual({ action: 'keep' }); // the EnvoyFilter keeps D1
    expect(d.imagesAfter).toBeUndefined();
    expect(d.waiting).toEqual({ digest: D2, since: NOW - 20_000 });
    expect(d.status!.fields.missingNodes).toEqual(['node-c']);
    expect(ready(d)!.message).toBe(
      `1 of 3 node(s) do not have ${D2} yet: node-c; EnvoyFilter keeps ${D1} until then`,
    );
    expect(d.requeueAfterMs).toBe(40_010);
  });

  it('Distributing with the applied digest: other changes to the EnvoyFilter still go on', () => {
    const d = decideFilter(
      input({
        owned: { EnvoyFilter: { name: 'ef', digest: D1 } },
        agents: { readyAgents: 2, missing: ['node-b'] },
      }),
    );
    expect(d.outcome).toBe('Distributing');
    expect(d.meshConfig.action).toBe('apply');
  });

  it('a new digest restarts the wait; a tag refresh shorter than the timeout wins', () => {
    const d = decideFilter(
      input({
        object: cr({ pullPolicy: 'Always' }),
        agents: { readyAgents: 1, missing: ['node-a'] },
        waiting: { digest: D2, since: NOW - 59_000 },
      }),
    );
    expect(d.waiting).toEqual({ digest: D1, since: NOW });
    expect(d.requeueAfterMs).toBe(5_000);
  });

  it('DistributionTimeout: after the timeout, says how long and where to look; only the refresh requeues', () => {
    const d = decideFilter(
      input({
        agents: { readyAgents: 2, missing: ['node-b'] },
        waiting: { digest: D1, since: NOW - 61_000 },
      }),
    );
    expect(d.outcome).toBe('DistributionTimeout');
    expect(ready(d)!.message).toContain('(waited 61 s; check the agent logs and Events on those nodes)');
    expect(d.requeueAfterMs).toBeUndefined();
  });

  it('WorkloadsPending: applies the EnvoyFilter and enqueues the workloads that lack the volume', () => {
    const d = decideFilter(input({ workloads: [workload('a'), workload('b', false)] }));
    expect(d.outcome).toBe('WorkloadsPending');
    expect(d.meshConfig.action).toBe('apply');
    expect(d.enqueue).toEqual([workloadKey('Deployment', 'apps', 'b')]);
    expect(ready(d)!.message).toBe('waiting for the module volume on Deployment/b');
  });

  it('Applied: the EnvoyFilter names the digest, the old module is dropped after, the wait is over', () => {
    const d = decideFilter(
      input({
        resolution: { digest: D2 },
        owned: { EnvoyFilter: { name: 'ef', digest: D1 } },
        waiting: { digest: D2, since: 1 },
      }),
    );
    expect(d.outcome).toBe('Applied');
    expect([...d.images!].sort()).toEqual([pinned(D1), pinned(D2)]);
    expect(d.meshConfig.action).toBe('apply');
    if (d.meshConfig.action === 'apply')
      expect(d.meshConfig.object.metadata.annotations?.['wasm.meshwasm.io/digest']).toBe(D2);
    expect([...(d.imagesAfter as Set<string>)]).toEqual([pinned(D2)]);
    expect(d.waiting).toBe('clear');
    expect(d.status!.fields).toEqual({
      resolvedImage: pinned(D2),
      digest: D2,
      matchedWorkloads: ['Deployment/details-v1'],
    });
    expect(d.status!.conditions.map((c) => [c.type, c.status, c.reason])).toEqual([
      ['ImageResolved', 'True', 'Resolved'],
      ['ModuleDistributed', 'True', 'Distributed'],
      ['Ready', 'True', 'Applied'],
    ]);
    expect(d.requeueAfterMs).toBeUndefined(); // IfNotPresent: the tag is not re-resolved
  });

  it('a failed re-resolution keeps the last digest and says so on ImageResolved', () => {
    const d = decideFilter(input({ resolution: { digest: D1, problem: 'timeout' } }));
    expect(d.outcome).toBe('Applied');
    expect(d.status!.conditions[0]).toMatchObject({ status: 'False', reason: 'ResolveFailed' });
  });

  it('workloads the CR selected before are re-checked (they may lose the volume)', () => {
    const d = decideFilter(
      input({ object: cr({ matched: ['Deployment/details-v1', 'StatefulSet/old', 'Bogus/x'] }) }),
    );
    expect(d.enqueue).toEqual([workloadKey('StatefulSet', 'apps', 'old')]);
  });

  it('a digest in the image wins over the resolution, and needs no refresh', () => {
    const d = decideFilter(
      input({ object: cr({ image: `registry.example/filters/hello@${D2}` }), resolution: { digest: D2 } }),
    );
    expect(d.status!.fields.resolvedImage).toBe(pinned(D2));
    expect(filterKey('apps', 'f')).toEqual({ kind: 'filter', namespace: 'apps', name: 'f' });
  });

  describe('WasmPlugin', () => {
    const M = `sha256:${'c'.repeat(64)}`;
    const wasm = () => cr({ meshConfig: 'WasmPlugin' });

    it('Applied: the WasmPlugin carries the module sha256 and names the node file', () => {
      const d = decideFilter(input({ object: wasm(), resolution: { digest: D1, moduleSha256: M } }));
      expect(d.outcome).toBe('Applied');
      if (d.meshConfig.action !== 'apply') throw new Error('not applied');
      expect(d.meshConfig.object.kind).toBe('WasmPlugin');
      expect(d.meshConfig.object.spec).toMatchObject({
        sha256: 'c'.repeat(64),
        url: `file:///var/local/lib/wasm-filters/${'1'.repeat(64)}.wasm`,
      });
      expect(d.meshConfig.replaces).toBeUndefined();
      expect(ready(d)!.message).toBe('WasmPlugin f-wasmplugin loads ' + D1 + '; 1 workload(s) matched');
    });

    it('MeshConfigUnavailable: a cluster without the CRD is told, the nodes still get the module', () => {
      const d = decideFilter(input({ object: wasm(), served: { EnvoyFilter: true, WasmPlugin: false } }));
      expect(d.outcome).toBe('MeshConfigUnavailable');
      expect(d.meshConfig).toEqual({ action: 'keep' });
      expect([...d.images!]).toEqual([pinned(D1)]);
      expect(ready(d)!.message).toContain('does not serve WasmPlugin (extensions.istio.io/v1alpha1)');
      expect(d.requeueAfterMs).toBe(30_000);
      expect(d.error).toBeUndefined();
    });

    it('ResolveFailed: no module sha256 yet is retried, and says why', () => {
      const d = decideFilter(
        input({ object: wasm(), resolution: { digest: D1, moduleProblem: 'blob unknown' } }),
      );
      expect(d.outcome).toBe('ResolveFailed');
      expect(d.meshConfig).toEqual({ action: 'keep' });
      expect(d.error).toContain("for the WasmPlugin's sha256: blob unknown");
    });

    it('switching kinds with the same digest: the WasmPlugin replaces the EnvoyFilter at once', () => {
      const d = decideFilter(
        input({
          object: wasm(),
          resolution: { digest: D1, moduleSha256: M },
          owned: { EnvoyFilter: { name: 'f-wasmfilter', digest: D1 } },
          agents: { readyAgents: 2, missing: ['node-b'] },
        }),
      );
      expect(d.outcome).toBe('Distributing');
      expect(d.meshConfig).toMatchObject({
        action: 'apply',
        object: { kind: 'WasmPlugin' },
        replaces: { kind: 'EnvoyFilter', name: 'f-wasmfilter' },
      });
    });

    it('switching kinds with a new digest: the EnvoyFilter keeps the old module until the nodes have it', () => {
      const d = decideFilter(
        input({
          object: wasm(),
          resolution: { digest: D2, moduleSha256: M },
          owned: { EnvoyFilter: { name: 'f-wasmfilter', digest: D1 } },
          agents: { readyAgents: 2, missing: ['node-b'] },
        }),
      );
      expect(d.meshConfig).toEqual({ action: 'keep' });
      expect([...d.images!].sort()).toEqual([pinned(D1), pinned(D2)]);
      expect(ready(d)!.message).toContain(`; EnvoyFilter keeps ${D1} until then`);
      const done = decideFilter(
        input({
          object: wasm(),
          resolution: { digest: D2, moduleSha256: M },
          owned: { EnvoyFilter: { name: 'f-wasmfilter', digest: D1 } },
        }),
      );
      expect(done.meshConfig).toMatchObject({ action: 'apply', replaces: { kind: 'EnvoyFilter' } });
      expect([...(done.imagesAfter as Set<string>)]).toEqual([pinned(D2)]);
    });
  });

  describe('signature verification (with a policy)', () => {
    const KEY = 'key release (sha256:abcdef012345)';
    const untrusted = {
      problem: `registry.example/filters/hello@${D2}: not signed by any trusted signer (tried ${KEY}): no signature found`,
      reason: 'Untrusted' as const,
    };
    const kinds = (d: ReturnType<typeof decideFilter>) =>
      d.status!.conditions.map((c) => [c.type, c.status, c.reason]);
    const sig = (d: ReturnType<typeof decideFilter>) =>
      d.status?.conditions.find((c) => c.type === 'SignatureVerified');

    it('a rejected first digest: nothing for the nodes, nothing rendered, the key tried in the condition', () => {
      const d = decideFilter(input({ resolution: { digest: D2 }, signature: untrusted }));
      expect(d.outcome).toBe('SignatureRejected');
      expect([...d.images!]).toEqual([]);
      expect(d.meshConfig).toEqual({ action: 'keep' });
      expect(d.imagesAfter).toBeUndefined();
      expect(d.enqueue).toEqual([]);
      expect(d.status!.fields).toEqual({ digest: undefined });
      expect(kinds(d)).toEqual([
        ['ImageResolved', 'True', 'Resolved'],
        ['SignatureVerified', 'False', 'Untrusted'],
        ['ModuleDistributed', 'Unknown', 'SignatureRejected'],
        ['Ready', 'False', 'SignatureRejected'],
      ]);
      expect(sig(d)!.message).toBe(
        `${D2} of registry.example/filters/hello:v1 is not accepted: ${untrusted.problem}`,
      );
      expect(sig(d)!.message).toContain(`tried ${KEY}`);
      expect(ready(d)!.message).toMatch(/; nothing is applied$/);
      expect(d.error).toContain('is not accepted');
    });

    it('a rejected new digest: the previous digest stays applied and alone in the images ConfigMap', () => {
      const d = decideFilter(
        input({
          resolution: { digest: D2 },
          signature: untrusted,
          owned: { EnvoyFilter: { name: 'ef', digest: D1 } },
          waiting: { digest: D2, since: NOW - 1_000 },
        }),
      );
      expect(d.outcome).toBe('SignatureRejected');
      expect([...d.images!]).toEqual([pinned(D1)]);
      expect(d.meshConfig).toEqual({ action: 'keep' });
      expect(d.imagesAfter).toBeUndefined();
      expect(d.status!.fields).toEqual({ digest: D1 });
      expect(ready(d)!.message).toContain(`; EnvoyFilter ef keeps the module ${D1}`);
    });

    it('a policy turned on over a running unsigned digest: it keeps running, flagged, nothing new is rolled', () => {
      const d = decideFilter(
        input({
          resolution: { digest: D1 },
          signature: { ...untrusted, problem: untrusted.problem.replace(D2, D1) },
          owned: { EnvoyFilter: { name: 'ef', digest: D1 } },
        }),
      );
      expect(d.outcome).toBe('SignatureRejected');
      expect([...d.images!]).toEqual([pinned(D1)]);
      expect(d.meshConfig).toEqual({ action: 'keep' });
      expect(sig(d)).toMatchObject({ status: 'False', reason: 'Untrusted' });
      expect(ready(d)!.message).toContain(`; EnvoyFilter ef keeps the module ${D1}`);
    });

    it('a check that could not run is a VerificationError, and also keeps the new digest away', () => {
      const d = decideFilter(
        input({
          resolution: { digest: D2 },
          signature: { problem: 'registry.example: connection refused', reason: 'VerificationError' },
          owned: { WasmPlugin: { name: 'wp', digest: D1 } },
          object: cr({ meshConfig: 'WasmPlugin' }),
        }),
      );
      expect(d.outcome).toBe('SignatureRejected');
      expect(sig(d)).toMatchObject({ status: 'False', reason: 'VerificationError' });
      expect([...d.images!]).toEqual([pinned(D1)]);
      expect(ready(d)!.message).toContain(`; WasmPlugin wp keeps the module ${D1}`);
    });

    it('a verified digest rolls out as before, SignatureVerified=True naming the signer', () => {
      const d = decideFilter(input({ signature: { signer: KEY } }));
      expect(d.outcome).toBe('Applied');
      expect(d.meshConfig.action).toBe('apply');
      expect(kinds(d)).toEqual([
        ['ImageResolved', 'True', 'Resolved'],
        ['SignatureVerified', 'True', 'Verified'],
        ['ModuleDistributed', 'True', 'Distributed'],
        ['Ready', 'True', 'Applied'],
      ]);
      expect(sig(d)!.message).toBe(`${D1} is signed by ${KEY}`);
    });

    it('a verified digest still waits for the agents, and says it is verified meanwhile', () => {
      const d = decideFilter(
        input({
          resolution: { digest: D2 },
          signature: { signer: KEY },
          owned: { EnvoyFilter: { name: 'ef', digest: D1 } },
          agents: { readyAgents: 2, missing: ['node-b'] },
        }),
      );
      expect(d.outcome).toBe('Distributing');
      expect([...d.images!].sort()).toEqual([pinned(D1), pinned(D2)]);
      expect(sig(d)).toMatchObject({ status: 'True', message: `${D2} is signed by ${KEY}` });
    });

    it('without a policy there is no SignatureVerified condition at all', () => {
      const d = decideFilter(input());
      expect(sig(d)).toBeUndefined();
    });

    it('node gate: a rejected first digest labels no node, even one that reports it', () => {
      const key = 'filters.wasm.meshwasm.io/apps.f';
      const d = decideFilter(
        input({
          resolution: { digest: D2 },
          signature: untrusted,
          nodeGate: { key, labelled: [], nodes: ['node-a'], reports: [{ node: 'node-a', digests: [D2] }] },
        }),
      );
      expect(d.outcome).toBe('SignatureRejected');
      expect(d.nodeLabels).toBeUndefined();
      const kept = decideFilter(
        input({
          resolution: { digest: D2 },
          signature: untrusted,
          owned: { EnvoyFilter: { name: 'ef', digest: D1 } },
          nodeGate: {
            key,
            labelled: ['node-a'],
            nodes: ['node-a', 'node-b'],
            reports: [
              { node: 'node-a', digests: [D2] },
              { node: 'node-b', digests: [D1] },
            ],
          },
        }),
      );
      // The label follows the module still applied, D1, not the refused one.
      expect(kept.nodeLabels).toEqual({ key, add: ['node-b'], remove: ['node-a'] });
    });
  });

  describe('node gate', () => {
    const key = 'filters.wasm.meshwasm.io/apps.f';
    const gate = (
      labelled: string[],
      reports: [string, string[]][],
      nodes = ['node-a', 'node-b', 'node-c'],
    ) => ({
      key,
      labelled,
      nodes,
      reports: reports.map(([node, digests]) => ({ node, digests })),
    });
    const gatedWorkload = () => {
      const w = workload('details-v1');
      w.spec!.template!.spec = {
        affinity: {
          nodeAffinity: {
            requiredDuringSchedulingIgnoredDuringExecution: {
              nodeSelectorTerms: [{ matchExpressions: [{ key, operator: 'Exists' }] }],
            },
          },
        },
      };
      return w;
    };

    it('labels the nodes whose agent holds the digest being applied; a node without one gets none', () => {
      const d = decideFilter(
        input({
          workloads: [gatedWorkload()],
          nodeGate: gate(
            [],
            [
              ['node-a', [D1]],
              ['node-b', [D1]],
              ['ghost', [D1]],
            ],
          ),
        }),
      );
      expect(d.outcome).toBe('Applied');
      expect(d.nodeLabels).toEqual({ key, add: ['node-a', 'node-b'], remove: [] });
    });

    it('a node whose agent is late is not labelled until it reports; the others keep theirs', () => {
      const d = decideFilter(
        input({
          owned: { EnvoyFilter: { name: 'ef', digest: D1 } },
          workloads: [gatedWorkload()],
          agents: { readyAgents: 3, missing: ['node-c'] },
          nodeGate: gate(
            ['node-a', 'node-b'],
            [
              ['node-a', [D1]],
              ['node-b', [D1]],
              ['node-c', []],
            ],
          ),
        }),
      );
      expect(d.outcome).toBe('Distributing');
      expect(d.nodeLabels).toBeUndefined();
    });

    it('during a roll-forward the label follows the applied digest, then moves with it', () => {
      const reports: [string, string[]][] = [
        ['node-a', [D1, D2]],
        ['node-b', [D1]],
      ];
      const waiting = decideFilter(
        input({
          resolution: { digest: D2 },
          owned: { EnvoyFilter: { name: 'ef', digest: D1 } },
          workloads: [gatedWorkload()],
          agents: { readyAgents: 2, missing: ['node-b'] },
          nodeGate: gate(['node-a', 'node-b'], reports),
        }),
      );
      expect(waiting.nodeLabels).toBeUndefined(); // both hold D1, which the EnvoyFilter still names
      const moved = decideFilter(
        input({
          resolution: { digest: D2 },
          owned: { EnvoyFilter: { name: 'ef', digest: D1 } },
          workloads: [gatedWorkload()],
          agents: { readyAgents: 1, missing: [] }, // node-b's agent is no longer ready
          nodeGate: gate(['node-a', 'node-b'], reports),
        }),
      );
      expect(moved.meshConfig.action).toBe('apply');
      expect(moved.nodeLabels).toEqual({ key, add: [], remove: ['node-b'] });
    });

    it('a workload without the gate in its affinity is WorkloadsPending; an invalid CR drops every label', () => {
      const pending = decideFilter(input({ nodeGate: gate(['node-a'], [['node-a', [D1]]]) }));
      expect(pending.outcome).toBe('WorkloadsPending');
      expect(ready(pending)!.message).toBe(
        'waiting for the module volume and node affinity on Deployment/details-v1',
      );
      const bad = cr();
      (bad.spec.filter as { patchContext: string }).patchContext = 'NOWHERE';
      const d = decideFilter(
        input({ object: bad, nodeGate: gate(['node-a', 'node-b'], [['node-a', [D1]]]) }),
      );
      expect(d.nodeLabels).toEqual({ key, add: [], remove: ['node-a', 'node-b'] });
    });
  });
});
