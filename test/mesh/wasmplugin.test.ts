/** The WasmPlugin rendering, checked against Istio's own WasmPlugin schema (@kubernetes-models/istio). */
import { WasmPlugin as WasmPluginModel } from '@kubernetes-models/istio/extensions.istio.io/v1alpha1/WasmPlugin';
import type { IWasmPlugin } from '@kubernetes-models/istio/extensions.istio.io/v1alpha1/WasmPlugin';
import { describe, expect, it } from 'vitest';
import {
  parseFilterDeployment,
  renderFilterDeployment,
  renderWasmPlugin,
  toYaml,
  validateFilterDeployment,
  wasmPluginName,
  type WasmPlugin,
} from '../../src/mesh/index.js';
import { DIGEST, seedFilterDeployment, variant } from './fixtures.js';
import { expectGolden } from './golden.js';

const HEX = DIGEST.slice('sha256:'.length);
const MODULE = `sha256:${'ab'.repeat(32)}`;

function render(cr: unknown, moduleSha256: string | null = MODULE): WasmPlugin {
  return renderWasmPlugin(
    parseFilterDeployment(cr, { defaultMeshConfig: 'WasmPlugin' }),
    DIGEST,
    moduleSha256 === null ? {} : { moduleSha256 },
  );
}

// Compile-time: what we render is an Istio WasmPlugin as kubernetes-models types it.
const asIstio = (wp: WasmPlugin): IWasmPlugin => wp;

describe('renderWasmPlugin', () => {
  it("renders the seed's filter.yaml as a WasmPlugin (golden)", () => {
    expectGolden('wasmplugin.yaml', toYaml(render(seedFilterDeployment())));
  });

  it('maps the CR field by field', () => {
    const wp = render(seedFilterDeployment());
    expect(wp.metadata).toMatchObject({
      name: 'details-v1-wasmfiltersample-wasmplugin',
      labels: { 'app.kubernetes.io/managed-by': 'meshwasm' },
      annotations: { 'wasm.meshwasm.io/digest': DIGEST },
    });
    expect(wp.spec).toEqual({
      selector: { matchLabels: { app: 'details', version: 'v1' } },
      url: `file:///var/local/lib/wasm-filters/${HEX}.wasm`,
      sha256: 'ab'.repeat(32),
      pluginName: 'my_root_id',
      pluginConfig: { name: 'hello', value: 'hello details' },
      failStrategy: 'FAIL_CLOSE',
      match: [{ mode: 'SERVER' }],
      type: 'HTTP',
    });
  });

  it('maps patch contexts to traffic modes as Istio classes listeners, and failOpen to FAIL_OPEN', () => {
    const modes = Object.fromEntries(
      ['SIDECAR_INBOUND', 'SIDECAR_OUTBOUND', 'GATEWAY', 'ANY'].map((context) => [
        context,
        render(variant((c) => (c.spec.filter.patchContext = context))).spec.match,
      ]),
    );
    expect(modes).toEqual({
      SIDECAR_INBOUND: [{ mode: 'SERVER' }],
      SIDECAR_OUTBOUND: [{ mode: 'CLIENT' }],
      GATEWAY: [{ mode: 'CLIENT' }],
      ANY: undefined,
    });
    expect(render(variant((c) => (c.spec.filter.failOpen = true))).spec.failStrategy).toBe('FAIL_OPEN');
  });

  it('leaves out what the CR does not say: no rootID, no parameters, no sha256', () => {
    const wp = render(
      variant((c) => {
        delete c.spec.filter.rootID;
        delete c.spec.filter.parameters;
      }),
      null,
    );
    expect(Object.keys(wp.spec).sort()).toEqual(['failStrategy', 'match', 'selector', 'type', 'url']);
  });

  it("validates against Istio's WasmPlugin schema, in every context and with an owner", () => {
    for (const context of ['SIDECAR_INBOUND', 'SIDECAR_OUTBOUND', 'GATEWAY', 'ANY'])
      for (const failOpen of [true, false]) {
        const cr = variant((c) => {
          c.spec.filter.patchContext = context;
          c.spec.filter.failOpen = failOpen;
          c.metadata.uid = 'u-1';
        });
        const wp = render(cr);
        expect(wp.metadata.ownerReferences?.[0]?.uid).toBe('u-1');
        expect(() => new WasmPluginModel(asIstio(wp)).validate()).not.toThrow();
      }
  });

  it('the schema check can fail (a sha256 with its prefix, a strategy Istio does not know)', () => {
    const wp = render(seedFilterDeployment());
    expect(() => new WasmPluginModel({ ...wp, spec: { ...wp.spec, sha256: MODULE } }).validate()).toThrow();
    const bad = { ...wp, spec: { ...wp.spec, failStrategy: 'FAIL_SOMETIMES' } };
    expect(() => new WasmPluginModel(bad as never).validate()).toThrow();
  });

  it('names stay unique and within 253 characters', () => {
    const a = 'a'.repeat(250);
    expect(wasmPluginName(a).length).toBeLessThanOrEqual(253);
    expect(wasmPluginName(a)).not.toBe(wasmPluginName(`${a}b`));
  });
});

describe('choosing the mesh config', () => {
  it('EnvoyFilter stays the default; spec.meshConfig or the default option picks WasmPlugin', () => {
    const ef = renderFilterDeployment(seedFilterDeployment(), DIGEST);
    expect(ef.ok && ef.value.meshConfig.kind).toBe('EnvoyFilter');
    const byOption = renderFilterDeployment(seedFilterDeployment(), DIGEST, {
      defaultMeshConfig: 'WasmPlugin',
    });
    expect(byOption.ok && byOption.value.wasmPlugin?.kind).toBe('WasmPlugin');
    expect(byOption.ok && byOption.value.envoyFilter).toBeUndefined();
    const byCr = renderFilterDeployment(
      variant((c) => (c.spec.meshConfig = 'WasmPlugin')),
      DIGEST,
    );
    expect(byCr.ok && byCr.value.meshConfig.kind).toBe('WasmPlugin');
    const back = renderFilterDeployment(
      variant((c) => (c.spec.meshConfig = 'EnvoyFilter')),
      DIGEST,
      { defaultMeshConfig: 'WasmPlugin' },
    );
    expect(back.ok && back.value.meshConfig.kind).toBe('EnvoyFilter');
  });

  it('rejects an unknown kind, and parameters a WasmPlugin cannot carry, naming the field', () => {
    const unknown = validateFilterDeployment(variant((c) => (c.spec.meshConfig = 'Lua')));
    expect(unknown.ok).toBe(false);
    expect(!unknown.ok && unknown.errors).toEqual([
      { field: 'spec.meshConfig', message: 'must be one of EnvoyFilter, WasmPlugin, got "Lua"' },
    ]);
    const array = variant((c) => {
      c.spec.meshConfig = 'WasmPlugin';
      c.spec.filter.parameters = '[1,2]';
    });
    const r = validateFilterDeployment(array);
    expect(!r.ok && r.errors[0]!.field).toBe('spec.filter.parameters');
    // The same parameters are fine in an EnvoyFilter (a StringValue carries any JSON).
    expect(validateFilterDeployment(variant((c) => (c.spec.filter.parameters = '[1,2]'))).ok).toBe(true);
  });
});
