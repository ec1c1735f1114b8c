/**
 * Everything `meshwasm install` applies, as a pure function of its options. `deploy/` is generated from
 * the same functions (`npm run gen:deploy`), and a test fails if the two drift.
 */
import { imagesConfigMap } from '../images.js';
import { DEFAULT_FILTERS_DIR, DEFAULT_IMAGE, DEFAULT_NAMESPACE, type KubeObject } from '../types.js';
import { filterDeploymentCrd } from './crd.js';
import { rbacObjects } from './rbac.js';
import { verificationPolicyConfigMap, type PolicySource } from './verification.js';
import { agentDaemonSet, controllerDeployment } from './workloads.js';

export { filterDeploymentCrd } from './crd.js';
export { rbacObjects, serviceAccount } from './rbac.js';
export { agentDaemonSet, controllerDeployment, HEALTH_PORT } from './workloads.js';
export { commonLabels } from './labels.js';
export {
  mountedPolicySource,
  parsePolicySource,
  verificationPolicyConfigMap,
  VERIFICATION_POLICY_DIR,
  VERIFICATION_POLICY_HASH_ANNOTATION,
  VERIFICATION_POLICY_KEY,
  VERIFICATION_POLICY_NAME,
  VERIFICATION_POLICY_VOLUME,
  type PolicySource,
} from './verification.js';

export { DEFAULT_IMAGE } from '../types.js';

export interface InstallOptions {
  /** Where the controller, agent, ConfigMap and pull secret live; default istio-system. */
  namespace?: string;
  /** The image both the controller and the agent run; default ghcr.io/meshwasm/meshwasm:0.1.0. */
  image?: string;
  /** The node directory for modules; default /var/local/lib/wasm-filters. */
  filtersDir?: string;
  /**
   * A cluster-wide verification policy for the controller and every agent: an existing ConfigMap or
   * Secret, or (`files`) the ConfigMap meshwasm-verification-policy made of these files. None: as before.
   */
  verificationPolicy?: PolicySource & { files?: Record<string, string> };
}

/** A group of objects and the deploy/ file that holds them. */
export interface ManifestFile {
  file: string;
  objects: KubeObject[];
}

export function resolveInstallOptions(
  options: InstallOptions = {},
): Required<Omit<InstallOptions, 'verificationPolicy'>> & Pick<InstallOptions, 'verificationPolicy'> {
  return {
    namespace: options.namespace ?? DEFAULT_NAMESPACE,
    image: options.image ?? DEFAULT_IMAGE,
    filtersDir: options.filtersDir ?? DEFAULT_FILTERS_DIR,
    verificationPolicy: options.verificationPolicy,
  };
}

/** The install objects grouped by deploy/ file, in apply order (CRD first, workloads last). */
export function installManifestFiles(options: InstallOptions = {}): ManifestFile[] {
  const o = resolveInstallOptions(options);
  const files = o.verificationPolicy?.files;
  return [
    { file: 'crd.yaml', objects: [filterDeploymentCrd()] },
    { file: 'rbac.yaml', objects: rbacObjects(o.namespace) },
    {
      file: 'configmap.yaml',
      objects: [
        imagesConfigMap([], o.namespace),
        // Before the workloads, so their pods find it mounted.
        ...(files ? [verificationPolicyConfigMap(o.namespace, files)] : []),
      ],
    },
    { file: 'controller.yaml', objects: [controllerDeployment(o)] },
    { file: 'agent.yaml', objects: [agentDaemonSet(o)] },
  ];
}

/** Every install object in apply order. Uninstall deletes them in reverse. */
export function installManifests(options: InstallOptions = {}): KubeObject[] {
  return installManifestFiles(options).flatMap((f) => f.objects);
}
