/**
 * What the node agents report (pure): each ready agent pod lists the manifest digests it holds in its
 * `wasm.meshwasm.io/modules` annotation; a digest is distributed when every ready agent lists it.
 */
import { MODULES_ANNOTATION } from '../mesh/index.js';
import type { KubeObject } from '../kube/index.js';

export interface AgentPod extends KubeObject {
  spec?: { nodeName?: string };
  status?: { phase?: string; conditions?: { type: string; status: string }[] };
}

export function isReadyAgent(pod: AgentPod): boolean {
  if (pod.metadata.deletionTimestamp) return false;
  return pod.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') ?? false;
}

/** The digests a pod reports; a malformed annotation reports nothing (that node counts as missing). */
export function reportedDigests(pod: AgentPod): Set<string> {
  const raw = pod.metadata.annotations?.[MODULES_ANNOTATION];
  if (!raw) return new Set();
  try {
    const parsed: unknown = JSON.parse(raw);
    return new Set(Array.isArray(parsed) ? parsed.filter((d): d is string => typeof d === 'string') : []);
  } catch {
    return new Set();
  }
}

export interface Distribution {
  readyAgents: number;
  /** Nodes (or pod names, for pods not yet scheduled) whose agent does not report the digest. */
  missing: string[];
}

export function distribution(pods: AgentPod[], digest: string): Distribution {
  const ready = pods.filter(isReadyAgent);
  const missing = ready
    .filter((p) => !reportedDigests(p).has(digest))
    .map((p) => p.spec?.nodeName ?? p.metadata.name)
    .sort();
  return { readyAgents: ready.length, missing };
}
