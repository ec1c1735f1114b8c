/**
 * The cluster-wide verification policy (pure): a ConfigMap or Secret holding `policy.yaml` and the files
 * it names (public keys, a trusted root), mounted read-only into the controller and every agent, which
 * both get `--verification-policy` pointing at it. One object, read by both, so the controller and the
 * nodes can never trust different signers. Without one, the workloads are exactly as before.
 */
import type { ConfigMap } from '../images.js';
import { MeshwasmError } from '../../errors.js';
import type { KubeObject } from '../types.js';
import { commonLabels } from './labels.js';

/** The ConfigMap `meshwasm install --verification-policy FILE` creates (and uninstall removes). */
export const VERIFICATION_POLICY_NAME = 'meshwasm-verification-policy';
/** Where the controller and the agent see it. */
export const VERIFICATION_POLICY_DIR = '/etc/meshwasm/verification';
/** The key of the policy itself; the other keys are the files it names (`file: release.pub`). */
export const VERIFICATION_POLICY_KEY = 'policy.yaml';
/** The pod volume's name; install finds a policy mounted before by it. */
export const VERIFICATION_POLICY_VOLUME = 'verification-policy';
/** On the pod templates: the content's sha256, so a changed policy rolls the pods. */
export const VERIFICATION_POLICY_HASH_ANNOTATION = 'wasm.meshwasm.io/verification-policy-sha256';

export interface PolicySource {
  kind: 'ConfigMap' | 'Secret';
  name: string;
  /** sha256 of the content (hex), when known; pods roll when it changes */
  sha256?: string;
}

/** `configmap/NAME` or `secret/NAME` (kubectl's spelling, case-insensitive kind). */
export function parsePolicySource(text: string, flag: string): PolicySource {
  const m = /^(configmap|cm|secret)\/([a-z0-9]([-a-z0-9.]*[a-z0-9])?)$/i.exec(text.trim());
  if (!m || m[2]!.length > 253)
    throw new MeshwasmError('USAGE', `${flag}: "${text}" is not configmap/NAME or secret/NAME`, {
      hint: `e.g. ${flag} configmap/${VERIFICATION_POLICY_NAME}`,
    });
  return { kind: m[1]!.toLowerCase() === 'secret' ? 'Secret' : 'ConfigMap', name: m[2]! };
}

/** The ConfigMap of a policy and the files it names (keys are file names, values their text). */
export function verificationPolicyConfigMap(namespace: string, files: Record<string, string>): ConfigMap {
  return {
    apiVersion: 'v1',
    kind: 'ConfigMap',
    metadata: { name: VERIFICATION_POLICY_NAME, namespace, labels: commonLabels() },
    data: Object.fromEntries(Object.entries(files).sort(([a], [b]) => a.localeCompare(b))),
  };
}

/** The source a (live) pod spec mounts as the policy volume, if any. */
export function mountedPolicySource(podSpec: unknown): PolicySource | undefined {
  const volumes = (podSpec as { volumes?: Record<string, unknown>[] } | undefined)?.volumes ?? [];
  const v = volumes.find((x) => x.name === VERIFICATION_POLICY_VOLUME) as
    { configMap?: { name?: string }; secret?: { secretName?: string } } | undefined;
  if (v?.configMap?.name) return { kind: 'ConfigMap', name: v.configMap.name };
  if (v?.secret?.secretName) return { kind: 'Secret', name: v.secret.secretName };
  return undefined;
}

export interface PolicyMount {
  args: string[];
  volume: Record<string, unknown>;
  volumeMount: Record<string, unknown>;
  annotations: Record<string, string>;
}

export function policyMount(source: PolicySource): PolicyMount {
  return {
    args: ['--verification-policy', `${VERIFICATION_POLICY_DIR}/${VERIFICATION_POLICY_KEY}`],
    volume: {
      name: VERIFICATION_POLICY_VOLUME,
      ...(source.kind === 'Secret'
        ? { secret: { secretName: source.name } }
        : { configMap: { name: source.name } }),
    },
    volumeMount: { name: VERIFICATION_POLICY_VOLUME, mountPath: VERIFICATION_POLICY_DIR, readOnly: true },
    annotations: source.sha256 ? { [VERIFICATION_POLICY_HASH_ANNOTATION]: source.sha256 } : {},
  };
}

interface PodTemplate {
  metadata: { labels?: Record<string, string>; annotations?: Record<string, string> };
  spec: { containers: { args?: string[]; volumeMounts?: unknown[] }[]; volumes?: unknown[] };
}

/**
 * Mounts the policy into a workload this module just built (its first container gets the flag). Called
 * on fresh objects only, so it changes them in place.
 */
export function mountPolicy(workload: KubeObject, source: PolicySource | undefined): KubeObject {
  if (!source) return workload;
  const m = policyMount(source);
  const template = (workload as unknown as { spec: { template: PodTemplate } }).spec.template;
  if (Object.keys(m.annotations).length > 0)
    template.metadata.annotations = { ...template.metadata.annotations, ...m.annotations };
  const main = template.spec.containers[0]!;
  main.args = [...(main.args ?? []), ...m.args];
  main.volumeMounts = [...(main.volumeMounts ?? []), m.volumeMount];
  template.spec.volumes = [...(template.spec.volumes ?? []), m.volume];
  return workload;
}
