import { describe, expect, it } from 'vitest';
import { apiVersionOf, KubeApiError, resourceFor } from '../../src/kube/index.js';
import { describeObject, isSubset, statusOf } from '../../src/kube/object-applier.js';
import { installManifests } from '../../src/mesh/index.js';

describe('isSubset (what "unchanged" means for install)', () => {
  it('ignores fields the server added', () => {
    expect(
      isSubset({ spec: { replicas: 2 } }, { spec: { replicas: 2, revisionHistoryLimit: 10 }, status: {} }),
    ).toBe(true);
  });

  it('notices a changed or missing value', () => {
    expect(isSubset({ spec: { image: 'a' } }, { spec: { image: 'b' } })).toBe(false);
    expect(isSubset({ spec: { image: 'a' } }, { spec: {} })).toBe(false);
    expect(isSubset({ spec: { image: 'a' } }, { spec: null })).toBe(false);
  });

  it('compares arrays by length and position', () => {
    expect(isSubset({ a: [1, 2] }, { a: [1, 2] })).toBe(true);
    expect(isSubset({ a: [1, 2] }, { a: [1, 2, 3] })).toBe(false);
    expect(isSubset({ a: [{ x: 1 }] }, { a: [{ x: 1, y: 2 }] })).toBe(true);
    expect(isSubset({ a: [2, 1] }, { a: [1, 2] })).toBe(false);
  });

  it('treats a number and its string form as equal (int-or-string fields)', () => {
    expect(isSubset({ port: 9090 }, { port: '9090' })).toBe(true);
    expect(isSubset({ port: 9090 }, { port: '9091' })).toBe(false);
  });
});

describe('helpers', () => {
  it('describes objects the way kubectl does', () => {
    expect(describeObject({ kind: 'DaemonSet', metadata: { name: 'a', namespace: 'ns' } })).toBe(
      'daemonset/a -n ns',
    );
    expect(describeObject({ kind: 'ClusterRole', metadata: { name: 'r' } })).toBe('clusterrole/r');
  });

  it('reads the HTTP status of API errors, and none for network errors', () => {
    expect(statusOf(new KubeApiError(409, 'Conflict', 'the object has been modified', 'PUT /x'))).toBe(409);
    expect(statusOf(new Error('ECONNREFUSED'))).toBeUndefined();
    expect(statusOf(null)).toBeUndefined();
  });

  it('maps every kind install applies to its REST resource, and refuses one it does not know', () => {
    for (const object of installManifests({ namespace: 'istio-system' })) {
      const r = resourceFor(object.apiVersion, object.kind);
      expect(r.kind).toBe(object.kind);
      expect(apiVersionOf(r)).toBe(object.apiVersion);
    }
    expect(() => resourceFor('v1', 'Service')).toThrow(/no REST mapping for v1 Service/);
  });
});
