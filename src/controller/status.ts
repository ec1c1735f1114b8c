/**
 * Status of an ASMFilterDeployment (pure): conditions keep their lastTransitionTime while their status
 * does not change, and equality ignores timestamps, so a reconcile that changes nothing writes nothing.
 */
import type { Condition, ConditionType, FilterDeploymentStatus } from '../mesh/index.js';

export type ConditionInput = Pick<Condition, 'type' | 'status' | 'reason' | 'message'>;

const now = (): string => new Date().toISOString().replace(/\.\d{3}Z$/, 'Z');

export function buildConditions(
  previous: Condition[] | undefined,
  inputs: ConditionInput[],
  generation: number | undefined,
): Condition[] {
  return inputs.map((c) => {
    const old = previous?.find((p) => p.type === c.type);
    const lastTransitionTime = old && old.status === c.status ? old.lastTransitionTime : now();
    return {
      ...c,
      lastTransitionTime,
      ...(generation !== undefined ? { observedGeneration: generation } : {}),
    };
  });
}

export function condition(
  status: FilterDeploymentStatus | undefined,
  type: ConditionType,
): Condition | undefined {
  return status?.conditions?.find((c) => c.type === type);
}

function withoutTimes(s: FilterDeploymentStatus | undefined): string {
  if (!s) return '{}';
  const { conditions, ...rest } = s;
  const sorted = Object.fromEntries(
    Object.entries(rest)
      .filter(([, v]) => v !== undefined)
      .sort(([a], [b]) => a.localeCompare(b)),
  );
  return JSON.stringify({
    ...sorted,
    conditions: (conditions ?? []).map(({ lastTransitionTime: _t, ...c }) => c),
  });
}

export function sameStatus(
  a: FilterDeploymentStatus | undefined,
  b: FilterDeploymentStatus | undefined,
): boolean {
  return withoutTimes(a) === withoutTimes(b);
}

/** A JSON merge patch from `old` to `next` status (fields that disappeared become null). */
export function statusPatch(
  old: FilterDeploymentStatus | undefined,
  next: FilterDeploymentStatus,
): { status: Record<string, unknown> } {
  const patch: Record<string, unknown> = { ...next };
  for (const k of Object.keys(old ?? {}))
    if (!(k in next) || (next as Record<string, unknown>)[k] === undefined) patch[k] = null;
  return { status: patch };
}
