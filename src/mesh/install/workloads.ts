/**
 * The controller Deployment and the agent DaemonSet (pure). Both run the same image (`meshwasm controller`
 * and `meshwasm agent`); both learn who and where they are from the downward API.
 */
import { AGENT_NAME, CONTROLLER_NAME, NAME_LABEL, type KubeObject } from '../types.js';
import { WASM_VOLUME_NAME } from '../workload.js';
import { commonLabels } from './labels.js';
import { mountPolicy, type PolicySource } from './verification.js';

/** The port both processes serve /healthz, /readyz and /metrics on. */
export const HEALTH_PORT = 9090;

const fieldEnv = (name: string, fieldPath: string) => ({ name, valueFrom: { fieldRef: { fieldPath } } });

const probes = {
  livenessProbe: { httpGet: { path: '/healthz', port: 'http' }, periodSeconds: 10, failureThreshold: 3 },
  readinessProbe: { httpGet: { path: '/readyz', port: 'http' }, periodSeconds: 5, failureThreshold: 3 },
};

const hardened = {
  allowPrivilegeEscalation: false,
  readOnlyRootFilesystem: true,
  capabilities: { drop: ['ALL'] },
};

export interface WorkloadOptions {
  namespace: string;
  image: string;
  filtersDir: string;
  /** the cluster-wide verification policy both processes mount (none: no verification, as before) */
  verificationPolicy?: PolicySource;
}

export function controllerDeployment(o: WorkloadOptions): KubeObject {
  const labels = commonLabels(CONTROLLER_NAME);
  return mountPolicy(controllerObject(o, labels), o.verificationPolicy);
}

function controllerObject(o: WorkloadOptions, labels: Record<string, string>): KubeObject {
  return {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name: CONTROLLER_NAME, namespace: o.namespace, labels },
    spec: {
      // Two replicas behind a leader Lease: one reconciles, the other takes over within the lease time.
      replicas: 2,
      selector: { matchLabels: { [NAME_LABEL]: CONTROLLER_NAME } },
      template: {
        metadata: { labels },
        spec: {
          serviceAccountName: CONTROLLER_NAME,
          securityContext: {
            runAsNonRoot: true,
            runAsUser: 65532,
            seccompProfile: { type: 'RuntimeDefault' },
          },
          containers: [
            {
              name: 'controller',
              image: o.image,
              imagePullPolicy: 'IfNotPresent',
              args: ['controller', '--namespace', o.namespace, '--port', String(HEALTH_PORT)],
              env: [fieldEnv('POD_NAME', 'metadata.name'), fieldEnv('POD_NAMESPACE', 'metadata.namespace')],
              ports: [{ name: 'http', containerPort: HEALTH_PORT, protocol: 'TCP' }],
              ...probes,
              resources: { requests: { cpu: '50m', memory: '64Mi' }, limits: { memory: '256Mi' } },
              securityContext: hardened,
            },
          ],
        },
      },
    },
  };
}

export function agentDaemonSet(o: WorkloadOptions): KubeObject {
  const labels = commonLabels(AGENT_NAME);
  return mountPolicy(agentObject(o, labels), o.verificationPolicy);
}

function agentObject(o: WorkloadOptions, labels: Record<string, string>): KubeObject {
  return {
    apiVersion: 'apps/v1',
    kind: 'DaemonSet',
    metadata: { name: AGENT_NAME, namespace: o.namespace, labels },
    spec: {
      selector: { matchLabels: { [NAME_LABEL]: AGENT_NAME } },
      updateStrategy: { type: 'RollingUpdate', rollingUpdate: { maxUnavailable: '10%' } },
      template: {
        metadata: { labels },
        spec: {
          serviceAccountName: AGENT_NAME,
          // Every node that can run a sidecar needs the modules, tainted ones included.
          tolerations: [{ operator: 'Exists' }],
          securityContext: { seccompProfile: { type: 'RuntimeDefault' } },
          containers: [
            {
              name: 'agent',
              image: o.image,
              imagePullPolicy: 'IfNotPresent',
              args: ['agent', '--dir', o.filtersDir, '--port', String(HEALTH_PORT)],
              env: [
                fieldEnv('POD_NAME', 'metadata.name'),
                fieldEnv('POD_NAMESPACE', 'metadata.namespace'),
                fieldEnv('NODE_NAME', 'spec.nodeName'),
              ],
              ports: [{ name: 'http', containerPort: HEALTH_PORT, protocol: 'TCP' }],
              ...probes,
              resources: { requests: { cpu: '20m', memory: '64Mi' }, limits: { memory: '512Mi' } },
              // Root (without any capability) because the hostPath directory is root-owned on the node.
              securityContext: { ...hardened, runAsUser: 0, runAsNonRoot: false },
              volumeMounts: [{ name: WASM_VOLUME_NAME, mountPath: o.filtersDir }],
            },
          ],
          volumes: [{ name: WASM_VOLUME_NAME, hostPath: { path: o.filtersDir, type: 'DirectoryOrCreate' } }],
        },
      },
    },
  };
}
