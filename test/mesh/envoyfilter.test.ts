import { EnvoyFilter as EnvoyFilterModel } from '@kubernetes-models/istio/networking.istio.io/v1alpha3/EnvoyFilter';
import { describe, expect, it } from 'vitest';
import {
  envoyFilterName,
  moduleFilename,
  parseFilterDeployment,
  renderEnvoyFilter,
  renderFilterDeployment,
  toYaml,
  toYamlDocuments,
} from '../../src/mesh/index.js';
import { DIGEST, seedFilterDeployment, variant } from './fixtures.js';
import { expectGolden } from './golden.js';

const HEX = DIGEST.slice('sha256:'.length);

function render(cr: unknown, digest = DIGEST) {
  return renderEnvoyFilter(parseFilterDeployment(cr), digest);
}

function wasmConfig(ef: ReturnType<typeof render>) {
  return ef.spec.configPatches[0]!.patch.value.typed_config.config;
}

describe('renderEnvoyFilter', () => {
  it("renders the seed's filter.yaml exactly as the golden file", () => {
    expectGolden('envoyfilter.yaml', toYaml(render(seedFilterDeployment())));
  });

  it('adds an owner reference to the CR when it has a uid (golden)', () => {
    const cr = variant((c) => {
      c.metadata.namespace = 'default';
      c.metadata.uid = '6f1c1a52-3c1e-4d7e-9a55-2a1f0c7f4e11';
    });
    const ef = render(cr);
    expect(ef.metadata.ownerReferences).toEqual([
      {
        apiVersion: 'istio.alibabacloud.com/v1beta1',
        kind: 'ASMFilterDeployment',
        name: 'details-v1-wasmfiltersample',
        uid: '6f1c1a52-3c1e-4d7e-9a55-2a1f0c7f4e11',
        controller: true,
        blockOwnerDeletion: true,
      },
    ]);
    expectGolden('envoyfilter-owned.yaml', toYaml(ef));
  });

  it('has the structure issue 4 specifies', () => {
    const ef = render(seedFilterDeployment());
    expect(ef.apiVersion).toBe('networking.istio.io/v1alpha3');
    expect(ef.kind).toBe('EnvoyFilter');
    expect(ef.metadata.namespace).toBe('default');
    expect(ef.metadata.labels).toEqual({ 'app.kubernetes.io/managed-by': 'meshwasm' });
    expect(ef.spec.workloadSelector.labels).toEqual({ app: 'details', version: 'v1' });
    expect(ef.spec.configPatches).toHaveLength(1);
    const patch = ef.spec.configPatches[0]!;
    expect(patch.applyTo).toBe('HTTP_FILTER');
    expect(patch.match).toEqual({
      context: 'SIDECAR_INBOUND',
      listener: {
        filterChain: {
          filter: {
            name: 'envoy.filters.network.http_connection_manager',
            subFilter: { name: 'envoy.filters.http.router' },
          },
        },
      },
    });
    expect(patch.patch.operation).toBe('INSERT_BEFORE');
    expect(patch.patch.value.name).toBe('envoy.filters.http.wasm');
    expect(patch.patch.value.typed_config['@type']).toBe(
      'type.googleapis.com/envoy.extensions.filters.http.wasm.v3.Wasm',
    );
    expect(wasmConfig(ef)).toEqual({
      name: 'details-v1-wasmfiltersample.default',
      root_id: 'my_root_id',
      configuration: {
        '@type': 'type.googleapis.com/google.protobuf.StringValue',
        value: '{"name":"hello","value":"hello details"}',
      },
      vm_config: {
        runtime: 'envoy.wasm.runtime.v8',
        code: { local: { filename: `/var/local/lib/wasm-filters/${HEX}.wasm` } },
      },
      fail_open: false,
    });
  });

  it.each(['SIDECAR_INBOUND', 'SIDECAR_OUTBOUND', 'GATEWAY', 'ANY'])(
    'puts patchContext %s in match.context',
    (context) => {
      const ef = render(variant((c) => (c.spec.filter.patchContext = context)));
      expect(ef.spec.configPatches[0]!.match.context).toBe(context);
    },
  );

  it('defaults match.context to SIDECAR_INBOUND', () => {
    const ef = render(variant((c) => delete c.spec.filter.patchContext));
    expect(ef.spec.configPatches[0]!.match.context).toBe('SIDECAR_INBOUND');
  });

  it('renders failOpen and omits root_id and configuration when not given', () => {
    const ef = render(
      variant((c) => {
        c.spec.filter.failOpen = true;
        delete c.spec.filter.rootID;
        delete c.spec.filter.parameters;
      }),
    );
    const config = wasmConfig(ef);
    expect(config.fail_open).toBe(true);
    expect('root_id' in config).toBe(false);
    expect('configuration' in config).toBe(false);
  });

  it('names the module file by the digest, in a configurable directory', () => {
    expect(moduleFilename(DIGEST)).toBe(`/var/local/lib/wasm-filters/${HEX}.wasm`);
    expect(moduleFilename(DIGEST, '/tmp/mods/')).toBe(`/tmp/mods/${HEX}.wasm`);
    const ef = renderEnvoyFilter(parseFilterDeployment(seedFilterDeployment()), DIGEST, {
      filtersDir: '/data/wasm',
    });
    expect(wasmConfig(ef).vm_config.code.local.filename).toBe(`/data/wasm/${HEX}.wasm`);
  });

  it('rejects a digest that is not a digest', () => {
    expect(() => render(seedFilterDeployment(), 'sha256:1234')).toThrow(/not a manifest digest/);
    expect(() => render(seedFilterDeployment(), 'v0.1')).toThrow(/not a manifest digest/);
  });

  it('keeps EnvoyFilter names within 253 characters, distinct and stable', () => {
    expect(envoyFilterName('details')).toBe('details-wasmfilter');
    const a = `${'a'.repeat(240)}.one`;
    const b = `${'a'.repeat(240)}.two`;
    expect(envoyFilterName(a).length).toBeLessThanOrEqual(253);
    expect(envoyFilterName(a)).not.toBe(envoyFilterName(b));
    expect(envoyFilterName(a)).toBe(envoyFilterName(a));
  });

  it("validates against Istio's EnvoyFilter schema", () => {
    for (const context of ['SIDECAR_INBOUND', 'SIDECAR_OUTBOUND', 'GATEWAY', 'ANY']) {
      const cr = variant((c) => {
        c.spec.filter.patchContext = context;
        c.metadata.uid = 'u-1';
      });
      const model = new EnvoyFilterModel(render(cr) as never);
      expect(() => model.validate()).not.toThrow();
    }
  });

  it('the schema check can fail (a wrong applyTo is rejected)', () => {
    const ef = render(seedFilterDeployment()) as unknown as {
      spec: { configPatches: Array<{ applyTo: string }> };
    };
    ef.spec.configPatches[0]!.applyTo = 'HTTP_FILTERS';
    expect(() => new EnvoyFilterModel(ef as never).validate()).toThrow();
  });
});

describe('renderFilterDeployment', () => {
  it('renders the EnvoyFilter, the pinned image and the workload patch together (golden)', () => {
    const result = renderFilterDeployment(seedFilterDeployment(), DIGEST);
    expect(result.ok).toBe(true);
    if (!result.ok) return;
    expect(result.value.pinnedImage).toBe(
      `acree-1-registry.cn-hangzhou.cr.aliyuncs.com/asm/asm-test@${DIGEST}`,
    );
    expect(result.value.workload.kind).toBe('Deployment');
    expect(result.value.workload.matchLabels).toEqual({ app: 'details', version: 'v1' });
    expectGolden('render.yaml', toYamlDocuments([result.value.envoyFilter, result.value.workload.patch]));
  });

  it('uses the digest pinned in the image over the one given', () => {
    const pinned = 'sha256:' + 'c'.repeat(64);
    const result = renderFilterDeployment(
      variant((c) => (c.spec.filter.image = `r.example.com/f/x@${pinned}`)),
      DIGEST,
    );
    expect(result.ok && result.value.pinnedImage).toBe(`r.example.com/f/x@${pinned}`);
    expect(result.ok && wasmConfig(result.value.envoyFilter!).vm_config.code.local.filename).toContain(
      'c'.repeat(64),
    );
  });

  it('returns field errors instead of throwing, for bad CRs and bad digests', () => {
    const bad = renderFilterDeployment(
      variant((c) => (c.spec.filter.parameters = '{')),
      DIGEST,
    );
    expect(bad.ok === false && bad.errors.map((e) => e.field)).toEqual(['spec.filter.parameters']);
    const badDigest = renderFilterDeployment(seedFilterDeployment(), 'latest');
    expect(badDigest.ok === false && badDigest.errors.map((e) => e.field)).toEqual(['digest']);
  });
});
