import { describe, expect, it } from 'vitest';
import {
  agentPodFields,
  metadataOnly,
  withoutManagedFields,
  workloadFields,
} from '../../src/controller/trim.js';

const metadata = {
  name: 'app',
  namespace: 'ns',
  resourceVersion: '7',
  labels: { app: 'a' },
  annotations: { x: 'y' },
  managedFields: [{ manager: 'kubectl', fieldsV1: { 'f:spec': {} } }],
};

describe('what the controller caches keep', () => {
  it('a workload: pod template labels, annotations and node affinity, metadata without managedFields', () => {
    const affinity = {
      nodeAffinity: { requiredDuringSchedulingIgnoredDuringExecution: { nodeSelectorTerms: [] } },
    };
    const kept = workloadFields({
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      metadata,
      spec: {
        replicas: 3,
        template: {
          metadata: { labels: { app: 'a' }, annotations: { b: 'c' } },
          spec: { affinity, containers: [{ name: 'app', image: 'app' }] },
        },
      },
    } as never);
    expect(kept).toEqual({
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      metadata: {
        name: 'app',
        namespace: 'ns',
        resourceVersion: '7',
        labels: { app: 'a' },
        annotations: { x: 'y' },
      },
      spec: { template: { metadata: { labels: { app: 'a' }, annotations: { b: 'c' } }, spec: { affinity } } },
    });
  });

  it('an EnvoyFilter or a node: metadata only; a CR: all but managedFields', () => {
    const ef = {
      apiVersion: 'networking.istio.io/v1alpha3',
      kind: 'EnvoyFilter',
      metadata,
      spec: { configPatches: [] },
    };
    expect(metadataOnly(ef)).toEqual({
      apiVersion: ef.apiVersion,
      kind: ef.kind,
      metadata: expect.not.objectContaining({ managedFields: expect.anything() }),
    });
    expect(metadataOnly(ef).metadata.annotations).toEqual({ x: 'y' });
    const cr = { kind: 'ASMFilterDeployment', metadata, spec: { a: 1 }, status: { b: 2 } };
    expect(withoutManagedFields(cr)).toEqual({
      kind: cr.kind,
      metadata: metadataOnly(cr).metadata,
      spec: { a: 1 },
      status: { b: 2 },
    });
  });

  it('an agent pod: its node, phase and conditions', () => {
    const pod = {
      kind: 'Pod',
      metadata,
      spec: { nodeName: 'node-1', containers: [{ name: 'agent' }] },
      status: { phase: 'Running', conditions: [{ type: 'Ready', status: 'True' }], podIP: '10.0.0.1' },
    };
    expect(agentPodFields(pod as never)).toEqual({
      kind: 'Pod',
      metadata: metadataOnly(pod).metadata,
      spec: { nodeName: 'node-1' },
      status: { phase: 'Running', conditions: [{ type: 'Ready', status: 'True' }] },
    });
  });
});
