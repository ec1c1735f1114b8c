import { describe, expect, it } from 'vitest';
import { planSync, retryDelay, type PlanInput } from '../../src/agent/plan.js';

const d = (n: number) => `sha256:${String(n).repeat(64).slice(0, 64)}`;
const ref = (n: number) => `reg.example/filters/f${n}@${d(n)}`;

function input(over: Partial<PlanInput> = {}): PlanInput {
  return {
    now: 1_000_000,
    wanted: [],
    present: new Set(),
    inFlight: { references: new Set(), digests: new Set() },
    retries: new Map(),
    unwantedSince: new Map(),
    gcGraceMs: 600_000,
    notBefore: 0,
    slots: 4,
    ...over,
  };
}

describe('planSync', () => {
  it('does nothing at all before the first wanted set, even with unwanted modules on disk', () => {
    const plan = planSync(input({ wanted: undefined, present: new Set([d(1)]) }));
    expect(plan.pulls).toEqual([]);
    expect(plan.removals).toEqual([]);
    expect(plan.settled).toBe(false);
  });

  it('pulls every wanted module that is missing, and nothing that is present', () => {
    const plan = planSync(
      input({
        wanted: [1, 2, 3].map((n) => ({ reference: ref(n), digest: d(n) })),
        present: new Set([d(2)]),
      }),
    );
    expect(plan.pulls).toEqual([
      { reference: ref(1), digest: d(1) },
      { reference: ref(3), digest: d(3) },
    ]);
    expect(plan.settled).toBe(false);
  });

  it('is settled when everything wanted is present', () => {
    const plan = planSync(input({ wanted: [{ reference: ref(1), digest: d(1) }], present: new Set([d(1)]) }));
    expect(plan).toMatchObject({ pulls: [], removals: [], settled: true });
  });

  it('starts at most `slots` pulls', () => {
    const wanted = [1, 2, 3, 4, 5, 6].map((n) => ({ reference: ref(n), digest: d(n) }));
    expect(planSync(input({ wanted, slots: 2 })).pulls.map((p) => p.digest)).toEqual([d(1), d(2)]);
    expect(planSync(input({ wanted, slots: 0 })).pulls).toEqual([]);
  });

  it('pulls a digest once however many references name it (single flight)', () => {
    const wanted = [
      { reference: `a.example/x@${d(7)}`, digest: d(7) },
      { reference: `b.example/y@${d(7)}`, digest: d(7) },
    ];
    expect(planSync(input({ wanted })).pulls).toEqual([wanted[0]]);
    // ...and not again while it is in flight under another reference
    const busy = planSync(
      input({ wanted, inFlight: { references: new Set([wanted[0]!.reference]), digests: new Set([d(7)]) } }),
    );
    expect(busy.pulls).toEqual([]);
    expect(busy.settled).toBe(false);
  });

  it('keeps a failed reference in backoff without blocking the others', () => {
    const wanted = [1, 2].map((n) => ({ reference: ref(n), digest: d(n) }));
    const plan = planSync(
      input({ wanted, retries: new Map([[ref(1), { attempts: 2, retryAt: 1_005_000 }]]) }),
    );
    expect(plan.pulls).toEqual([{ reference: ref(2), digest: d(2) }]);
    expect(plan.wakeAt).toBe(1_005_000);
    const later = planSync(
      input({ now: 1_005_000, wanted, retries: new Map([[ref(1), { attempts: 2, retryAt: 1_005_000 }]]) }),
    );
    expect(later.pulls.map((p) => p.reference)).toContain(ref(1));
  });

  it('counts a reference that failed once as attempted: the first sync can finish without it', () => {
    const plan = planSync(
      input({
        wanted: [1, 2].map((n) => ({ reference: ref(n), digest: d(n) })),
        present: new Set([d(2)]),
        retries: new Map([[ref(1), { attempts: 1, retryAt: 2_000_000 }]]),
      }),
    );
    expect(plan.pulls).toEqual([]);
    expect(plan.settled).toBe(true);
  });

  it('waits for the start jitter before the first pull, and wakes up when it ends', () => {
    const plan = planSync(input({ wanted: [{ reference: ref(1), digest: d(1) }], notBefore: 1_003_000 }));
    expect(plan.pulls).toEqual([]);
    expect(plan.wakeAt).toBe(1_003_000);
    expect(plan.settled).toBe(false);
  });

  it('pulls a tag reference whose digest is not known yet', () => {
    const plan = planSync(input({ wanted: [{ reference: 'reg.example/filters/f:v1' }] }));
    expect(plan.pulls).toEqual([{ reference: 'reg.example/filters/f:v1' }]);
  });

  it('removes an unwanted module only after the grace period, counted from when it became unwanted', () => {
    const first = planSync(input({ wanted: [], present: new Set([d(1)]) }));
    expect(first.removals).toEqual([]);
    expect(first.unwantedSince.get(d(1))).toBe(1_000_000);
    expect(first.wakeAt).toBe(1_600_000);
    const before = planSync(
      input({ now: 1_599_999, wanted: [], present: new Set([d(1)]), unwantedSince: first.unwantedSince }),
    );
    expect(before.removals).toEqual([]);
    const after = planSync(
      input({ now: 1_600_000, wanted: [], present: new Set([d(1)]), unwantedSince: first.unwantedSince }),
    );
    expect(after.removals).toEqual([d(1)]);
  });

  it('forgets the grace clock of a module that is wanted again', () => {
    const plan = planSync(
      input({
        wanted: [{ reference: ref(1), digest: d(1) }],
        present: new Set([d(1)]),
        unwantedSince: new Map([[d(1), 0]]),
      }),
    );
    expect(plan.removals).toEqual([]);
    expect(plan.unwantedSince.has(d(1))).toBe(false);
  });

  it('never removes a digest that is being written', () => {
    const plan = planSync(
      input({
        now: 10_000_000,
        wanted: [],
        present: new Set([d(1)]),
        unwantedSince: new Map([[d(1), 0]]),
        inFlight: { references: new Set(['x']), digests: new Set([d(1)]) },
      }),
    );
    expect(plan.removals).toEqual([]);
  });
});

describe('retryDelay', () => {
  it('doubles per attempt up to the maximum, with jitter between half and all of the step', () => {
    expect(retryDelay(1, 1000, 60_000, 1)).toBe(1000);
    expect(retryDelay(3, 1000, 60_000, 1)).toBe(4000);
    expect(retryDelay(3, 1000, 60_000, 0)).toBe(2000);
    expect(retryDelay(30, 1000, 60_000, 1)).toBe(60_000);
  });
});
