/**
 * Create-or-update with optimistic concurrency: read, create when missing, else replace the fields we own
 * on top of the live object (keeping its resourceVersion), retried when someone else wrote in between.
 * Nothing is written when the live object already has the desired content.
 */
import { isAlreadyExists, isConflict, isNotFound, type KubeClient, type KubeObject } from './client.js';
import type { ResourceRef } from './resources.js';

export type ApplyAction = 'created' | 'updated' | 'unchanged';

/** Top-level fields of `desired` (besides metadata) and its labels, annotations and owner references. */
function merged(live: KubeObject, desired: KubeObject): KubeObject {
  const out: KubeObject = { ...live, metadata: { ...live.metadata } };
  for (const [k, v] of Object.entries(desired)) if (k !== 'metadata' && k !== 'status') out[k] = v;
  const m = desired.metadata;
  if (m.labels) out.metadata.labels = { ...live.metadata.labels, ...m.labels };
  if (m.annotations) out.metadata.annotations = { ...live.metadata.annotations, ...m.annotations };
  if (m.ownerReferences) out.metadata.ownerReferences = m.ownerReferences;
  return out;
}

function stable(v: unknown): string {
  return JSON.stringify(v, (_k, val: unknown) =>
    val && typeof val === 'object' && !Array.isArray(val)
      ? Object.fromEntries(
          Object.entries(val as Record<string, unknown>).sort(([a], [b]) => a.localeCompare(b)),
        )
      : val,
  );
}

export async function apply<T extends KubeObject>(
  client: KubeClient,
  r: ResourceRef,
  desired: T,
  attempts = 5,
): Promise<{ action: ApplyAction; object: T }> {
  const { namespace, name } = desired.metadata;
  for (let i = 1; ; i++) {
    try {
      const live = await client.find<T>(r, namespace, name);
      if (!live) return { action: 'created', object: await client.create(r, desired) };
      const next = merged(live, desired);
      if (stable(next) === stable(live)) return { action: 'unchanged', object: live };
      return { action: 'updated', object: (await client.replace(r, next)) as T };
    } catch (e) {
      const retriable = isConflict(e) || isAlreadyExists(e) || (isNotFound(e) && i > 1);
      if (!retriable || i >= attempts) throw e;
    }
  }
}
