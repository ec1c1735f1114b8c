import { Ajv } from 'ajv';
import { CustomResourceDefinition } from 'kubernetes-models/apiextensions.k8s.io/v1/CustomResourceDefinition';
import { DaemonSet } from 'kubernetes-models/apps/v1/DaemonSet';
import { Deployment } from 'kubernetes-models/apps/v1/Deployment';
import { ClusterRole } from 'kubernetes-models/rbac.authorization.k8s.io/v1/ClusterRole';
import { ClusterRoleBinding } from 'kubernetes-models/rbac.authorization.k8s.io/v1/ClusterRoleBinding';
import { Role } from 'kubernetes-models/rbac.authorization.k8s.io/v1/Role';
import { RoleBinding } from 'kubernetes-models/rbac.authorization.k8s.io/v1/RoleBinding';
import { ConfigMap } from 'kubernetes-models/v1/ConfigMap';
import { ServiceAccount } from 'kubernetes-models/v1/ServiceAccount';
import { describe, expect, it } from 'vitest';
import { installManifests, type KubeObject } from '../../src/mesh/index.js';
import { seedFilterDeployment, variant, type Loose } from '../mesh/fixtures.js';

type Rule = { apiGroups: string[]; resources: string[]; verbs: string[]; resourceNames?: string[] };

const models: Record<string, new (data: never) => { validate(): void }> = {
  CustomResourceDefinition,
  ServiceAccount,
  ClusterRole,
  ClusterRoleBinding,
  Role,
  RoleBinding,
  ConfigMap,
  Deployment,
  DaemonSet,
};

function find(objects: KubeObject[], kind: string, name?: string): Loose {
  const found = objects.find((o) => o.kind === kind && (name === undefined || o.metadata.name === name));
  if (!found) throw new Error(`no ${kind} ${name ?? ''}`);
  return found;
}

function crdSchemaValidator() {
  const crd = find(installManifests(), 'CustomResourceDefinition');
  const ajv = new Ajv({ strict: false, allErrors: true, validateFormats: false });
  return ajv.compile(crd.spec.versions[0].schema.openAPIV3Schema);
}

describe('install manifests', () => {
  const objects = installManifests();

  it('contain the CRD, service accounts, RBAC, ConfigMap, controller and agent, in apply order', () => {
    expect(objects.map((o) => `${o.kind}/${o.metadata.name}`)).toEqual([
      'CustomResourceDefinition/asmfilterdeployments.istio.alibabacloud.com',
      'ServiceAccount/meshwasm-controller',
      'ServiceAccount/meshwasm-agent',
      'ClusterRole/meshwasm-controller',
      'ClusterRoleBinding/meshwasm-controller',
      'Role/meshwasm-controller',
      'RoleBinding/meshwasm-controller',
      'Role/meshwasm-agent',
      'RoleBinding/meshwasm-agent',
      'ConfigMap/asmwasm-images',
      'Deployment/meshwasm-controller',
      'DaemonSet/meshwasm-agent',
    ]);
  });

  it('each validate against the Kubernetes OpenAPI schema', () => {
    for (const object of objects) {
      const Model = models[object.kind];
      expect(Model, object.kind).toBeDefined();
      expect(
        () => new Model!(object as never).validate(),
        `${object.kind}/${object.metadata.name}`,
      ).not.toThrow();
    }
  });

  it('the schema check can fail (a DaemonSet without a selector is rejected)', () => {
    const ds = structuredClone(find(objects, 'DaemonSet'));
    delete ds.spec.selector;
    expect(() => new DaemonSet(ds).validate()).toThrow();
  });

  it('put namespaced objects in istio-system by default and follow --namespace and --image', () => {
    for (const o of objects) {
      const clusterScoped = ['CustomResourceDefinition', 'ClusterRole', 'ClusterRoleBinding'].includes(
        o.kind,
      );
      expect(o.metadata.namespace, `${o.kind}`).toBe(clusterScoped ? undefined : 'istio-system');
    }
    const custom = installManifests({ namespace: 'mesh-ops', image: 'r.example.com/meshwasm:dev' });
    for (const o of custom) {
      if (o.metadata.namespace !== undefined) expect(o.metadata.namespace).toBe('mesh-ops');
      for (const s of (o.subjects as Array<{ namespace: string }> | undefined) ?? [])
        expect(s.namespace).toBe('mesh-ops');
    }
    expect(find(custom, 'Deployment').spec.template.spec.containers[0].image).toBe(
      'r.example.com/meshwasm:dev',
    );
    expect(find(custom, 'DaemonSet').spec.template.spec.containers[0].image).toBe(
      'r.example.com/meshwasm:dev',
    );
    expect(find(custom, 'Deployment').spec.template.spec.containers[0].args).toContain('mesh-ops');
  });
});

describe('the CRD', () => {
  const crd = find(installManifests(), 'CustomResourceDefinition');
  const version = crd.spec.versions[0];

  it('is namespaced v1beta1 with a status subresource and printer columns', () => {
    expect(crd.spec.group).toBe('istio.alibabacloud.com');
    expect(crd.spec.scope).toBe('Namespaced');
    expect(crd.spec.names.kind).toBe('ASMFilterDeployment');
    expect(version.name).toBe('v1beta1');
    expect(version.served && version.storage).toBe(true);
    expect(version.subresources).toEqual({ status: {} });
    expect(version.additionalPrinterColumns.map((c: { name: string }) => c.name)).toEqual(
      expect.arrayContaining(['Workload', 'Image', 'Ready', 'Age']),
    );
  });

  it("accepts the seed's filter.yaml as is", () => {
    const validate = crdSchemaValidator();
    expect(validate(seedFilterDeployment()), JSON.stringify(validate.errors)).toBe(true);
  });

  it('accepts the optional fields and a status', () => {
    const validate = crdSchemaValidator();
    const cr = variant((c) => {
      c.spec.filter.imagePullPolicy = 'Always';
      c.spec.filter.failOpen = true;
      c.status = {
        observedGeneration: 2,
        digest: 'sha256:' + 'a'.repeat(64),
        conditions: [
          {
            type: 'Ready',
            status: 'True',
            reason: 'Applied',
            message: 'ok',
            lastTransitionTime: '2026-01-01T00:00:00Z',
          },
        ],
      };
    });
    expect(validate(cr), JSON.stringify(validate.errors)).toBe(true);
  });

  it.each<[string, (c: Loose) => void]>([
    ['a wrong workload kind', (c) => (c.spec.workload.kind = 'Pod')],
    ['empty labels', (c) => (c.spec.workload.labels = {})],
    ['a wrong patchContext', (c) => (c.spec.filter.patchContext = 'INBOUND')],
    ['a missing image', (c) => delete c.spec.filter.image],
    ['a non-string parameters', (c) => (c.spec.filter.parameters = { a: 1 })],
    ['a wrong pull policy', (c) => (c.spec.filter.imagePullPolicy = 'Never')],
  ])('rejects %s at apply time', (_what, edit) => {
    expect(crdSchemaValidator()(variant(edit))).toBe(false);
  });

  it('is structural: every property has a type', () => {
    const untyped: string[] = [];
    const walk = (schema: Loose, path: string) => {
      if (schema.type === undefined && !schema['x-kubernetes-preserve-unknown-fields']) untyped.push(path);
      for (const [k, v] of Object.entries(schema.properties ?? {})) walk(v as Loose, `${path}.${k}`);
      if (schema.items) walk(schema.items, `${path}[]`);
      if (typeof schema.additionalProperties === 'object') walk(schema.additionalProperties, `${path}{}`);
    };
    walk(version.schema.openAPIV3Schema, '');
    expect(untyped).toEqual([]);
  });
});

describe('RBAC', () => {
  const objects = installManifests();
  const rules = (kind: string, name: string): Rule[] => find(objects, kind, name).rules;

  it('grants no wildcards', () => {
    for (const o of objects.filter((x) => x.kind === 'Role' || x.kind === 'ClusterRole')) {
      for (const r of o.rules as Rule[]) {
        expect([...r.apiGroups, ...r.resources, ...r.verbs]).not.toContain('*');
      }
    }
  });

  it('reads the pull secret and images ConfigMap only by name, and never cluster-wide', () => {
    for (const [kind, name] of [
      ['Role', 'meshwasm-controller'],
      ['Role', 'meshwasm-agent'],
    ]) {
      const secretRules = rules(kind!, name!).filter((r) => r.resources.includes('secrets'));
      expect(secretRules.length).toBeGreaterThan(0);
      for (const r of secretRules) expect(r.resourceNames).toEqual(['asmwasm-cache']);
    }
    for (const r of rules('ClusterRole', 'meshwasm-controller')) {
      expect(r.resources).not.toContain('secrets');
      expect(r.resources).not.toContain('configmaps');
    }
    const agentCm = rules('Role', 'meshwasm-agent').filter((r) => r.resources.includes('configmaps'));
    expect(
      agentCm.every((r) => r.resourceNames?.join() === 'asmwasm-images' && !r.verbs.includes('update')),
    ).toBe(true);
  });

  it('lets the controller manage what it reconciles and the agent only report', () => {
    const cluster = rules('ClusterRole', 'meshwasm-controller');
    const can = (rs: Rule[], resource: string, verb: string) =>
      rs.some((r) => r.resources.includes(resource) && r.verbs.includes(verb));
    expect(can(cluster, 'envoyfilters', 'create') && can(cluster, 'envoyfilters', 'delete')).toBe(true);
    expect(can(cluster, 'wasmplugins', 'create') && can(cluster, 'wasmplugins', 'delete')).toBe(true);
    expect(can(cluster, 'asmfilterdeployments/status', 'update')).toBe(true);
    expect(
      can(cluster, 'deployments', 'patch') &&
        can(cluster, 'statefulsets', 'patch') &&
        can(cluster, 'daemonsets', 'patch'),
    ).toBe(true);
    expect(can(cluster, 'deployments', 'delete')).toBe(false);
    const agent = rules('Role', 'meshwasm-agent');
    expect(can(agent, 'pods', 'patch')).toBe(true);
    expect(can(agent, 'pods', 'delete') || can(agent, 'envoyfilters', 'create')).toBe(false);
  });

  it('binds each role to its own service account', () => {
    for (const b of objects.filter((o) => o.kind.endsWith('Binding'))) {
      expect((b.roleRef as { name: string }).name).toBe(b.metadata.name);
      expect(b.subjects).toEqual([
        { kind: 'ServiceAccount', name: b.metadata.name, namespace: 'istio-system' },
      ]);
    }
  });
});

describe('controller and agent', () => {
  const objects = installManifests();

  it('run the same image as `meshwasm controller` and `meshwasm agent`', () => {
    const controller = find(objects, 'Deployment', 'meshwasm-controller');
    const agent = find(objects, 'DaemonSet', 'meshwasm-agent');
    expect(controller.spec.template.spec.containers[0].args[0]).toBe('controller');
    expect(agent.spec.template.spec.containers[0].args[0]).toBe('agent');
    expect(controller.spec.template.spec.containers[0].image).toBe(
      agent.spec.template.spec.containers[0].image,
    );
    expect(controller.spec.template.metadata.labels['app.kubernetes.io/name']).toBe('meshwasm-controller');
    expect(agent.spec.template.metadata.labels['app.kubernetes.io/name']).toBe('meshwasm-agent');
    expect(controller.spec.template.spec.serviceAccountName).toBe('meshwasm-controller');
    expect(agent.spec.template.spec.serviceAccountName).toBe('meshwasm-agent');
  });

  it('the agent mounts the hostPath with DirectoryOrCreate, runs on every node and knows its pod and node', () => {
    const pod = find(objects, 'DaemonSet').spec.template.spec;
    expect(pod.volumes).toEqual([
      {
        name: 'wasmfilters-dir',
        hostPath: { path: '/var/local/lib/wasm-filters', type: 'DirectoryOrCreate' },
      },
    ]);
    expect(pod.containers[0].volumeMounts).toEqual([
      { name: 'wasmfilters-dir', mountPath: '/var/local/lib/wasm-filters' },
    ]);
    expect(pod.containers[0].args).toEqual(expect.arrayContaining(['--dir', '/var/local/lib/wasm-filters']));
    expect(pod.tolerations).toEqual([{ operator: 'Exists' }]);
    const env = Object.fromEntries(
      pod.containers[0].env.map((e: Loose) => [e.name, e.valueFrom.fieldRef.fieldPath]),
    );
    expect(env).toEqual({
      POD_NAME: 'metadata.name',
      POD_NAMESPACE: 'metadata.namespace',
      NODE_NAME: 'spec.nodeName',
    });
  });

  it('follows a custom module directory', () => {
    const pod = find(installManifests({ filtersDir: '/data/wasm' }), 'DaemonSet').spec.template.spec;
    expect(pod.volumes[0].hostPath.path).toBe('/data/wasm');
    expect(pod.containers[0].volumeMounts[0].mountPath).toBe('/data/wasm');
  });

  it('a verification policy: mounted read-only into both workloads, validated by the Kubernetes schema', () => {
    const plain = installManifests();
    for (const source of [
      { kind: 'Secret' as const, name: 'signers' },
      {
        kind: 'ConfigMap' as const,
        name: 'meshwasm-verification-policy',
        sha256: 'f'.repeat(64),
        files: { 'policy.yaml': 'keys: []\n' },
      },
    ]) {
      const objects = installManifests({ verificationPolicy: source });
      for (const o of objects) {
        const Model = models[o.kind];
        expect(() => new Model!(o as never).validate(), `${o.kind}/${o.metadata.name}`).not.toThrow();
      }
      expect(objects.length).toBe(plain.length + (source.kind === 'ConfigMap' ? 1 : 0));
      for (const kind of ['Deployment', 'DaemonSet']) {
        const template = find(objects, kind).spec.template;
        const c = template.spec.containers[0];
        expect(c.args.slice(-2)).toEqual(['--verification-policy', '/etc/meshwasm/verification/policy.yaml']);
        expect(c.volumeMounts.at(-1)).toEqual({
          name: 'verification-policy',
          mountPath: '/etc/meshwasm/verification',
          readOnly: true,
        });
        expect(template.spec.volumes.at(-1)).toEqual(
          source.kind === 'Secret'
            ? { name: 'verification-policy', secret: { secretName: 'signers' } }
            : { name: 'verification-policy', configMap: { name: 'meshwasm-verification-policy' } },
        );
        expect(template.metadata.annotations?.['wasm.meshwasm.io/verification-policy-sha256']).toBe(
          source.kind === 'Secret' ? undefined : 'f'.repeat(64),
        );
      }
    }
    // Without a policy, nothing of it (and deploy/ stays as it was).
    expect(JSON.stringify(plain)).not.toContain('verification');
  });
});
