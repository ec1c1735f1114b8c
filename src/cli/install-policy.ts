/**
 * Which verification policy `meshwasm install` mounts into the controller and the agents: one made from a
 * local file (`--verification-policy FILE`, stored as the ConfigMap meshwasm-verification-policy), an
 * existing ConfigMap or Secret (`--verification-policy-from`), none (`--no-verification-policy`), or,
 * with no flag, the one the installed controller already mounts: re-running install (an upgrade) never
 * turns verification off by forgetting a flag. Each policy is checked before anything is applied.
 */
import { createHash } from 'node:crypto';
import { MeshwasmError } from '../errors.js';
import { CONTROLLER_NAME, MANAGED_BY_LABEL, MANAGED_BY_VALUE, type KubeObject } from '../mesh/types.js';
import {
  mountedPolicySource,
  parsePolicySource,
  VERIFICATION_POLICY_NAME,
  type InstallOptions,
  type PolicySource,
} from '../mesh/install/index.js';
import type { Applier } from '../kube/object-applier.js';

export interface PolicyFlags {
  /** a file, or false for --no-verification-policy */
  verificationPolicy?: string | false;
  verificationPolicyFrom?: string;
}

export type InstallPolicy = NonNullable<InstallOptions['verificationPolicy']>;

export function contentSha256(files: Record<string, string>): string {
  const sorted = Object.entries(files).sort(([a], [b]) => a.localeCompare(b));
  return createHash('sha256').update(JSON.stringify(sorted)).digest('hex');
}

/** What the flags alone decide (enough for --dry-run); `undefined` also when install must look. */
export async function policyFromFlags(flags: PolicyFlags): Promise<InstallPolicy | undefined> {
  if (typeof flags.verificationPolicy === 'string' && flags.verificationPolicyFrom !== undefined)
    throw new MeshwasmError(
      'USAGE',
      '--verification-policy and --verification-policy-from are exclusive: give a file or an object',
    );
  if (typeof flags.verificationPolicy === 'string') {
    const { bundlePolicyFile } = await import('../sign/policy-bundle.js');
    const files = bundlePolicyFile(flags.verificationPolicy);
    return { kind: 'ConfigMap', name: VERIFICATION_POLICY_NAME, sha256: contentSha256(files), files };
  }
  if (flags.verificationPolicyFrom !== undefined)
    return parsePolicySource(flags.verificationPolicyFrom, '--verification-policy-from');
  return undefined;
}

async function readSource(
  applier: Applier,
  namespace: string,
  source: PolicySource,
): Promise<Record<string, string>> {
  const live = (await applier.read({
    apiVersion: 'v1',
    kind: source.kind,
    metadata: { name: source.name, namespace },
  })) as (KubeObject & { data?: Record<string, string> }) | undefined;
  if (!live)
    throw new MeshwasmError(
      'NOT_FOUND',
      `${source.kind.toLowerCase()}/${source.name} not found in ${namespace}: nothing to mount as the verification policy`,
      {
        hint: `create it first (kubectl create ${source.kind === 'Secret' ? 'secret generic' : 'configmap'} ${source.name} -n ${namespace} --from-file=policy.yaml --from-file=<each file it names>), or pass --verification-policy FILE`,
      },
    );
  const data = live.data ?? {};
  return source.kind === 'Secret'
    ? Object.fromEntries(Object.entries(data).map(([k, v]) => [k, Buffer.from(v, 'base64').toString('utf8')]))
    : data;
}

/**
 * The policy to install, against the cluster: an object named by the flags is read and checked (and its
 * content hashed, so the pods roll when it changes); without a flag, the policy mounted before is kept.
 */
export async function resolvePolicy(
  applier: Applier,
  namespace: string,
  flags: PolicyFlags,
  note: (text: string) => void,
): Promise<InstallPolicy | undefined> {
  let policy = await policyFromFlags(flags);
  if (policy === undefined && flags.verificationPolicy === undefined) {
    const live = (await applier.read({
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      metadata: { name: CONTROLLER_NAME, namespace },
    })) as (KubeObject & { spec?: { template?: { spec?: unknown } } }) | undefined;
    policy = mountedPolicySource(live?.spec?.template?.spec);
    if (policy)
      note(
        `keeping the verification policy ${policy.kind.toLowerCase()}/${policy.name} installed before (--no-verification-policy turns verification off)`,
      );
  }
  if (!policy || policy.files) return policy;
  const files = await readSource(applier, namespace, policy);
  const { checkPolicyFiles } = await import('../sign/policy-bundle.js');
  checkPolicyFiles(files, `${policy.kind.toLowerCase()}/${policy.name} in ${namespace}`);
  return { ...policy, sha256: contentSha256(files) };
}

/** The ConfigMap install made before, when it is no longer the policy (it is not the user's). */
export async function staleManagedPolicy(
  applier: Applier,
  namespace: string,
  policy: InstallPolicy | undefined,
): Promise<KubeObject | undefined> {
  if (policy?.kind === 'ConfigMap' && policy.name === VERIFICATION_POLICY_NAME) return undefined;
  const header = {
    apiVersion: 'v1',
    kind: 'ConfigMap',
    metadata: { name: VERIFICATION_POLICY_NAME, namespace },
  };
  const live = await applier.read(header);
  return live?.metadata.labels?.[MANAGED_BY_LABEL] === MANAGED_BY_VALUE ? header : undefined;
}
