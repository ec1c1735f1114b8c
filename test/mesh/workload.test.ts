import { DaemonSet } from 'kubernetes-models/apps/v1/DaemonSet';
import { Deployment } from 'kubernetes-models/apps/v1/Deployment';
import { StatefulSet } from 'kubernetes-models/apps/v1/StatefulSet';
import { describe, expect, it } from 'vitest';
import { MeshwasmError } from '../../src/errors.js';
import {
  INJECTED_ANNOTATION,
  USER_VOLUME_ANNOTATION as VOL,
  USER_VOLUME_MOUNT_ANNOTATION as MOUNT,
  addWasmVolumes,
  annotationsMergePatch,
  hasWasmVolumes,
  removeWasmVolumes,
  workloadPatch,
} from '../../src/mesh/index.js';

// The exact strings the seed shows on the patched Deployment.
const SEED_VOLUME = '[{"name":"wasmfilters-dir","hostPath":{"path":"/var/local/lib/wasm-filters"}}]';
const SEED_MOUNT = '[{"mountPath":"/var/local/lib/wasm-filters","name":"wasmfilters-dir"}]';

const userVolume = { name: 'certs', secret: { secretName: 'my-certs' } };
const userMount = { name: 'certs', mountPath: '/etc/certs', readOnly: true };

describe('addWasmVolumes', () => {
  it("produces the seed's annotations on an empty pod template", () => {
    const out = addWasmVolumes(undefined);
    expect(out[VOL]).toBe(SEED_VOLUME);
    expect(out[MOUNT]).toBe(SEED_MOUNT);
    expect(out[INJECTED_ANNOTATION]).toBe(`${VOL},${MOUNT}`);
    expect(hasWasmVolumes(out)).toBe(true);
  });

  it("merges into the user's existing arrays without clobbering them, and keeps other annotations", () => {
    const before = {
      [VOL]: JSON.stringify([userVolume]),
      [MOUNT]: JSON.stringify([userMount]),
      'prometheus.io/scrape': 'true',
    };
    const out = addWasmVolumes(before);
    expect(JSON.parse(out[VOL]!)).toEqual([userVolume, JSON.parse(SEED_VOLUME)[0]]);
    expect(JSON.parse(out[MOUNT]!)).toEqual([userMount, JSON.parse(SEED_MOUNT)[0]]);
    expect(out['prometheus.io/scrape']).toBe('true');
    expect(before[VOL]).toBe(JSON.stringify([userVolume])); // input untouched (pure)
  });

  it('is idempotent', () => {
    const once = addWasmVolumes({ [VOL]: JSON.stringify([userVolume]) });
    expect(addWasmVolumes(once)).toEqual(once);
  });

  it('leaves an identical entry the user declared alone and never removes it later', () => {
    const before = { [VOL]: SEED_VOLUME, [MOUNT]: SEED_MOUNT };
    const out = addWasmVolumes(before);
    expect(out).toEqual(before);
    expect(removeWasmVolumes(out)).toEqual(before);
  });

  it('updates its own entry when the directory changes', () => {
    const out = addWasmVolumes(addWasmVolumes(undefined), { filtersDir: '/data/wasm' });
    expect(JSON.parse(out[VOL]!)).toEqual([{ name: 'wasmfilters-dir', hostPath: { path: '/data/wasm' } }]);
    expect(hasWasmVolumes(out, { filtersDir: '/data/wasm' })).toBe(true);
    expect(hasWasmVolumes(out)).toBe(false);
  });

  it('refuses a different user entry of the same name, naming the annotation', () => {
    const before = { [VOL]: '[{"name":"wasmfilters-dir","emptyDir":{}}]' };
    expect(() => addWasmVolumes(before)).toThrow(MeshwasmError);
    expect(() => addWasmVolumes(before)).toThrow(/sidecar\.istio\.io\/userVolume .*wasmfilters-dir/);
  });

  it('refuses annotations that are not JSON arrays, naming them', () => {
    expect(() => addWasmVolumes({ [MOUNT]: '[{' })).toThrow(
      /sidecar\.istio\.io\/userVolumeMount is not valid JSON/,
    );
    expect(() => addWasmVolumes({ [VOL]: '{"name":"x"}' })).toThrow(
      /sidecar\.istio\.io\/userVolume is not a JSON array/,
    );
  });
});

describe('removeWasmVolumes', () => {
  it("restores the user's own entries exactly", () => {
    const before = { [VOL]: JSON.stringify([userVolume]), [MOUNT]: JSON.stringify([userMount]), other: 'x' };
    expect(removeWasmVolumes(addWasmVolumes(before))).toEqual(before);
  });

  it('removes the annotations entirely when only meshwasm had entries', () => {
    expect(removeWasmVolumes(addWasmVolumes({ other: 'x' }))).toEqual({ other: 'x' });
  });

  it('keeps entries the user added after meshwasm did', () => {
    const added = addWasmVolumes(undefined);
    const edited = { ...added, [VOL]: JSON.stringify([...JSON.parse(added[VOL]!), userVolume]) };
    expect(removeWasmVolumes(edited)).toEqual({ [VOL]: JSON.stringify([userVolume]) });
  });

  it('does nothing to a template meshwasm never touched', () => {
    const before = { [VOL]: SEED_VOLUME };
    expect(removeWasmVolumes(before)).toEqual(before);
    expect(removeWasmVolumes(undefined)).toEqual({});
  });
});

describe('workloadPatch', () => {
  it('is a merge patch of the pod template annotations that adds the volumes', () => {
    const patch = workloadPatch({ keep: 'me' }, true);
    expect(patch).toEqual({
      spec: {
        template: {
          metadata: {
            annotations: {
              [VOL]: SEED_VOLUME,
              [MOUNT]: SEED_MOUNT,
              [INJECTED_ANNOTATION]: `${VOL},${MOUNT}`,
            },
          },
        },
      },
    });
  });

  it('deletes with null when the volumes are no longer wanted, and restores user entries', () => {
    const added = addWasmVolumes({ [VOL]: JSON.stringify([userVolume]) });
    expect(workloadPatch(added, false)?.spec.template.metadata.annotations).toEqual({
      [VOL]: JSON.stringify([userVolume]),
      [MOUNT]: null,
      [INJECTED_ANNOTATION]: null,
    });
  });

  it('is undefined when the template is already as wanted (no write, no rollout)', () => {
    expect(workloadPatch(addWasmVolumes(undefined), true)).toBeUndefined();
    expect(workloadPatch({ a: 'b' }, false)).toBeUndefined();
    expect(workloadPatch(undefined, false)).toBeUndefined();
  });

  it('annotationsMergePatch lists only changed keys', () => {
    expect(annotationsMergePatch({ a: '1', b: '2' }, { a: '1', b: '3', c: '4' })).toEqual({ b: '3', c: '4' });
    expect(annotationsMergePatch({ a: '1' }, {})).toEqual({ a: null });
  });
});

describe('patched workloads', () => {
  function applyMergePatch(
    target: Record<string, unknown>,
    patch: Record<string, unknown>,
  ): Record<string, unknown> {
    const out: Record<string, unknown> = { ...target };
    for (const [k, v] of Object.entries(patch)) {
      if (v === null) delete out[k];
      else if (typeof v === 'object' && !Array.isArray(v)) {
        const current = out[k];
        out[k] = applyMergePatch(
          typeof current === 'object' && current !== null ? (current as Record<string, unknown>) : {},
          v as Record<string, unknown>,
        );
      } else out[k] = v;
    }
    return out;
  }

  const template = {
    metadata: {
      labels: { app: 'details', version: 'v1' },
      annotations: { [VOL]: JSON.stringify([userVolume]) },
    },
    spec: { containers: [{ name: 'details', image: 'docker.io/istio/examples-bookinfo-details-v1:1.16.2' }] },
  };
  const workloads: Array<[string, new (data: never) => { validate(): void }, Record<string, unknown>]> = [
    ['Deployment', Deployment, { replicas: 1, selector: { matchLabels: { app: 'details' } }, template }],
    [
      'StatefulSet',
      StatefulSet,
      { serviceName: 'details', selector: { matchLabels: { app: 'details' } }, template },
    ],
    ['DaemonSet', DaemonSet, { selector: { matchLabels: { app: 'details' } }, template }],
  ];

  it.each(workloads)(
    'a %s stays valid for apps/v1 after the patch, and after its reversal',
    (kind, Model, spec) => {
      const workload = {
        apiVersion: 'apps/v1',
        kind,
        metadata: { name: 'details-v1', namespace: 'default' },
        spec,
      };
      const add = workloadPatch(template.metadata.annotations, true)!;
      const patched = applyMergePatch(workload, add as never) as typeof workload;
      expect(() => new Model(patched as never).validate()).not.toThrow();
      const annotations = (patched.spec.template as typeof template).metadata.annotations;
      expect(hasWasmVolumes(annotations)).toBe(true);
      const remove = workloadPatch(annotations, false)!;
      const restored = applyMergePatch(patched, remove as never);
      expect(() => new Model(restored as never).validate()).not.toThrow();
      expect(restored).toEqual(workload);
    },
  );
});
