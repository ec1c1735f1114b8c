/**
 * Status conditions (pure), with the Kubernetes convention that lastTransitionTime changes only when the
 * status does, so re-running a reconcile that reaches the same verdict writes an identical status.
 */
import type { Condition, ConditionType } from './types.js';

export type ConditionUpdate = Omit<Condition, 'lastTransitionTime'>;

export function getCondition(
  conditions: readonly Condition[] | undefined,
  type: ConditionType,
): Condition | undefined {
  return conditions?.find((c) => c.type === type);
}

/** `conditions` with `update` set; `now` (RFC 3339) is used only if the status changed or is new. */
export function setCondition(
  conditions: readonly Condition[] | undefined,
  update: ConditionUpdate,
  now: string,
): Condition[] {
  const list = [...(conditions ?? [])];
  const index = list.findIndex((c) => c.type === update.type);
  const previous = index >= 0 ? list[index] : undefined;
  const next: Condition = {
    ...update,
    lastTransitionTime:
      previous !== undefined && previous.status === update.status ? previous.lastTransitionTime : now,
  };
  if (index >= 0) list[index] = next;
  else list.push(next);
  return list;
}
