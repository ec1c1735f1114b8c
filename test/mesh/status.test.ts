import { describe, expect, it } from 'vitest';
import { getCondition, labelsMatch, setCondition } from '../../src/mesh/index.js';

const T1 = '2026-01-01T00:00:00Z';
const T2 = '2026-01-01T00:05:00Z';

describe('setCondition', () => {
  it('adds a new condition with the given time', () => {
    const out = setCondition(
      undefined,
      { type: 'Ready', status: 'False', reason: 'Waiting', message: 'm' },
      T1,
    );
    expect(out).toEqual([
      { type: 'Ready', status: 'False', reason: 'Waiting', message: 'm', lastTransitionTime: T1 },
    ]);
  });

  it('keeps lastTransitionTime when the status is unchanged, but updates reason and message', () => {
    const first = setCondition(
      undefined,
      { type: 'Ready', status: 'False', reason: 'Waiting', message: 'a' },
      T1,
    );
    const second = setCondition(
      first,
      { type: 'Ready', status: 'False', reason: 'StillWaiting', message: 'b' },
      T2,
    );
    expect(second).toEqual([
      { type: 'Ready', status: 'False', reason: 'StillWaiting', message: 'b', lastTransitionTime: T1 },
    ]);
  });

  it('moves lastTransitionTime when the status flips, leaving other conditions alone', () => {
    let list = setCondition(
      undefined,
      { type: 'ImageResolved', status: 'True', reason: 'Resolved', message: '' },
      T1,
    );
    list = setCondition(list, { type: 'Ready', status: 'False', reason: 'Waiting', message: '' }, T1);
    list = setCondition(list, { type: 'Ready', status: 'True', reason: 'Applied', message: '' }, T2);
    expect(getCondition(list, 'Ready')?.lastTransitionTime).toBe(T2);
    expect(getCondition(list, 'ImageResolved')?.lastTransitionTime).toBe(T1);
    expect(list.map((c) => c.type)).toEqual(['ImageResolved', 'Ready']);
    expect(getCondition(list, 'ModuleDistributed')).toBeUndefined();
  });
});

describe('labelsMatch', () => {
  it('matches when every selector label is present with the same value', () => {
    expect(
      labelsMatch({ app: 'details', version: 'v1' }, { app: 'details', version: 'v1', extra: 'x' }),
    ).toBe(true);
    expect(labelsMatch({ app: 'details', version: 'v1' }, { app: 'details', version: 'v2' })).toBe(false);
    expect(labelsMatch({ app: 'details' }, undefined)).toBe(false);
    expect(labelsMatch({}, { app: 'details' })).toBe(false);
  });
});
