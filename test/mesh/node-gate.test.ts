/** The node gate's pure parts: the label key, and the required node affinity merged with the user's own. */
import { describe, expect, it } from 'vitest';
import { gatedNodeSelector, gateKeysOf, nodeGatePatch, nodeLabelKey } from '../../src/mesh/index.js';

const K1 = nodeLabelKey('apps', 'a');
const K2 = nodeLabelKey('apps', 'b');
const exists = (key: string) => ({ key, operator: 'Exists' });

describe('nodeLabelKey', () => {
  it('is <prefix>/<namespace>.<name>, hashed down to the 63-character name limit, distinct per CR', () => {
    expect(K1).toBe('filters.wasm.meshwasm.io/apps.a');
    const long = nodeLabelKey('team', 'x'.repeat(200));
    expect(long.split('/')[1]!.length).toBeLessThanOrEqual(63);
    expect(long).toMatch(/^filters\.wasm\.meshwasm\.io\/team\.x+-[0-9a-f]{8}$/);
    expect(long).not.toBe(nodeLabelKey('team', `${'x'.repeat(199)}y`));
  });
});

describe('gatedNodeSelector', () => {
  it('adds one term of ours when the user has none, and removes it again', () => {
    const gated = gatedNodeSelector(undefined, [K2, K1, K1]);
    expect(gated).toEqual({ nodeSelectorTerms: [{ matchExpressions: [exists(K1), exists(K2)] }] });
    expect(gatedNodeSelector(gated, [])).toBeUndefined();
    expect(gateKeysOf(gated)).toEqual([K1, K2]);
  });

  it("requires ours in every one of the user's terms (they are ORed) and restores them exactly", () => {
    const user = {
      nodeSelectorTerms: [
        { matchExpressions: [{ key: 'zone', operator: 'In', values: ['a'] }] },
        { matchFields: [{ key: 'metadata.name', operator: 'In', values: ['n1'] }] },
      ],
    };
    const gated = gatedNodeSelector(user, [K1]);
    expect(gated).toEqual({
      nodeSelectorTerms: [
        { matchExpressions: [{ key: 'zone', operator: 'In', values: ['a'] }, exists(K1)] },
        {
          matchFields: [{ key: 'metadata.name', operator: 'In', values: ['n1'] }],
          matchExpressions: [exists(K1)],
        },
      ],
    });
    expect(gatedNodeSelector(gated, [])).toEqual(user);
  });

  it('patches only when something changes, and deletes the field when nothing is left', () => {
    const gated = gatedNodeSelector(undefined, [K1]);
    expect(nodeGatePatch(gated, [K1])).toBeUndefined();
    expect(nodeGatePatch(undefined, [])).toBeUndefined();
    expect(nodeGatePatch(gated, [])).toEqual({
      spec: {
        template: {
          spec: { affinity: { nodeAffinity: { requiredDuringSchedulingIgnoredDuringExecution: null } } },
        },
      },
    });
  });
});
