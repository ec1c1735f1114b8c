/** `meshwasm run -f`'s parser: EnvoyFilters and WasmPlugins as the mesh's YAML holds them (pure). */
import { readFile } from 'node:fs/promises';
import { parse } from 'yaml';
import { describe, expect, it } from 'vitest';
import { renderEnvoyFilter, toYaml, validateFilterDeployment } from '../../src/mesh/index.js';
import { parseMeshConfig } from '../../src/sidecar/index.js';

const WASM = 'type.googleapis.com/envoy.extensions.filters.http.wasm.v3.Wasm';

const handWritten = `
apiVersion: networking.istio.io/v1alpha3
kind: EnvoyFilter
metadata: {name: two-filters, namespace: default}
spec:
  workloadSelector: {labels: {app: details}}
  configPatches:
  - applyTo: CLUSTER
    patch: {operation: ADD, value: {name: auth}}
  - applyTo: HTTP_FILTER
    match: {context: SIDECAR_INBOUND}
    patch:
      operation: INSERT_BEFORE
      value:
        name: envoy.filters.http.wasm
        typed_config:
          "@type": type.googleapis.com/udpa.type.v1.TypedStruct
          type_url: ${WASM}
          value:
            config:
              name: second
              root_id: r2
              fail_open: true
              configuration: {"@type": type.googleapis.com/google.protobuf.StringValue, value: "raw text"}
              vm_config:
                vm_id: shared-vm
                configuration: {"@type": type.googleapis.com/google.protobuf.StringValue, value: "vm"}
                environment_variables: {key_values: {A: "1"}}
                code: {local: {filename: /var/local/lib/wasm-filters/b.wasm}}
  - applyTo: HTTP_FILTER
    patch:
      operation: INSERT_FIRST
      value:
        name: envoy.filters.http.wasm
        typed_config:
          "@type": ${WASM}
          config:
            name: first
            configuration: plain string
            vm_config: {code: {local: {filename: /var/local/lib/wasm-filters/a.wasm}}}
`;

const plugin = (name: string, spec: string) => `
apiVersion: extensions.istio.io/v1alpha1
kind: WasmPlugin
metadata: {name: ${name}}
spec:
${spec
  .trim()
  .split('\n')
  .map((l) => `  ${l}`)
  .join('\n')}
`;

describe('parseMeshConfig', () => {
  it('reads the EnvoyFilter the controller renders (the seed filter.yaml) with --filters-dir', async () => {
    const valid = validateFilterDeployment(
      parse(await readFile('examples/header-filter/filter.yaml', 'utf8')),
    );
    if (!valid.ok) throw new Error('filter.yaml is invalid');
    const digest = `sha256:${'cd'.repeat(32)}`;
    const text = toYaml(renderEnvoyFilter(valid.value, digest));
    expect(parseMeshConfig(text, 'ef.yaml', { filtersDir: '/tmp/node' })).toEqual([
      {
        name: 'details-v1-wasmfiltersample.default',
        file: `/tmp/node/${'cd'.repeat(32)}.wasm`,
        failOpen: false,
        rootId: 'my_root_id',
        configuration: '{"name":"hello","value":"hello details"}',
      },
    ]);
  });

  it('reads every Wasm patch in order (INSERT_FIRST to the front), TypedStruct, fail_open, vm_id, env', () => {
    const chain = parseMeshConfig(handWritten, 'ef.yaml');
    expect(chain.map((f) => f.name)).toEqual(['first', 'second']);
    expect(chain[0]).toEqual({
      name: 'first',
      file: '/var/local/lib/wasm-filters/a.wasm',
      failOpen: false,
      configuration: 'plain string',
    });
    expect(chain[1]).toEqual({
      name: 'second',
      file: '/var/local/lib/wasm-filters/b.wasm',
      failOpen: true,
      rootId: 'r2',
      configuration: 'raw text',
      vmConfiguration: 'vm',
      vmId: 'shared-vm',
      env: { A: '1' },
    });
  });

  it('reads WasmPlugins: url forms, sha256, pluginConfig as JSON text, pluginName, failStrategy, env', () => {
    const text = [
      plugin(
        'local',
        `
url: file:///var/local/lib/wasm-filters/x.wasm
sha256: ${'ab'.repeat(32)}
pluginName: my_root_id
pluginConfig: {name: hello, value: {nested: [1, 2]}}
failStrategy: FAIL_OPEN
vmConfig:
  env:
  - {name: INLINE_ONE, value: v1}
  - {name: FROM_HOST, valueFrom: HOST}
  - {name: NOT_SET, valueFrom: HOST}`,
      ),
      plugin('remote', 'url: oci://registry.example/team/filter:v1'),
      plugin('plain', 'url: registry.example/team/other@sha256:' + 'ef'.repeat(32)),
    ].join('---\n');
    const chain = parseMeshConfig(text, 'wp.yaml', { filtersDir: '/node', hostEnv: { FROM_HOST: 'h' } });
    expect(chain[0]).toEqual({
      name: 'local',
      file: '/node/x.wasm',
      sha256: 'ab'.repeat(32),
      rootId: 'my_root_id',
      configuration: '{"name":"hello","value":{"nested":[1,2]}}',
      failOpen: true,
      env: { INLINE_ONE: 'v1', FROM_HOST: 'h' },
    });
    // Istio's default is FAIL_CLOSE.
    expect(chain[1]).toEqual({
      name: 'remote',
      reference: 'registry.example/team/filter:v1',
      failOpen: false,
    });
    expect(chain[2]!.reference).toBe(`registry.example/team/other@sha256:${'ef'.repeat(32)}`);
  });

  it('orders WasmPlugins by phase then priority, before EnvoyFilter inserts (INSERT_FIRST before all)', () => {
    const url = 'url: file:///f.wasm';
    const text = [
      handWritten,
      plugin('stats', `${url}\nphase: STATS`),
      plugin('none', url),
      plugin('authz-low', `${url}\nphase: AUTHZ\npriority: 1`),
      plugin('authz-high', `${url}\nphase: AUTHZ\npriority: 10`),
      plugin('authn', `${url}\nphase: AUTHN\npriority: -5`),
    ].join('---\n');
    expect(parseMeshConfig(text, 'all.yaml').map((f) => f.name)).toEqual([
      'first',
      'authn',
      'authz-high',
      'authz-low',
      'stats',
      'none',
      'second',
    ]);
  });

  it('reads a kind: List (kubectl get -o yaml) and skips empty documents', () => {
    const list = { kind: 'List', items: [parse(plugin('a', 'url: file:///a.wasm'))] };
    expect(parseMeshConfig(`---\n${JSON.stringify(list)}\n---\n`, 'list.yaml').map((f) => f.name)).toEqual([
      'a',
    ]);
  });

  it('names the file, the document and the field of what is wrong', () => {
    const bad = (text: string) => () => parseMeshConfig(text, 'bad.yaml');
    expect(bad('kind: Service\nmetadata: {name: s}\n---\nspec: {}')).toThrow(
      'bad.yaml: no EnvoyFilter or WasmPlugin in it (only document 1 (Service "s"), document 2 (no kind))',
    );
    expect(bad(plugin('w', 'url: file:///a.wasm\nphase: LATE'))).toThrow(
      'bad.yaml: document 1 (WasmPlugin "w"): spec.phase is "LATE"',
    );
    expect(bad(plugin('w', 'pluginName: x'))).toThrow('spec.url is missing');
    expect(bad(plugin('w', 'url: https://example.com/f.wasm'))).toThrow(
      'spec.url "https://example.com/f.wasm"',
    );
    expect(bad(plugin('w', 'url: file:///a.wasm\nsha256: 1234'))).toThrow('spec.sha256 must be 64');
    expect(bad(plugin('w', 'url: file:///a.wasm\nfailStrategy: MAYBE'))).toThrow(
      'spec.failStrategy is "MAYBE"',
    );
    expect(bad(plugin('w', 'url: file:///a.wasm\npriority: high'))).toThrow(
      'spec.priority must be an integer',
    );
    expect(bad(plugin('w', 'url: file:///a.wasm\ntype: NETWORK'))).toThrow('spec.type is "NETWORK"');
    expect(bad(plugin('w', 'url: file:///a.wasm\nvmConfig: {env: [{value: x}]}'))).toThrow(
      'spec.vmConfig.env[0].name is missing',
    );
    const lua = handWritten.replace(
      `"@type": ${WASM}`,
      '"@type": type.googleapis.com/envoy.extensions.filters.http.lua.v3.Lua',
    );
    expect(bad(lua)).toThrow(
      'document 1 (EnvoyFilter "two-filters"): spec.configPatches[2].patch.value.typed_config.@type is "type.googleapis.com/envoy.extensions.filters.http.lua.v3.Lua"',
    );
    const noFile = handWritten.replace('filename: /var/local/lib/wasm-filters/b.wasm', 'filename: ""');
    expect(bad(noFile)).toThrow(
      'spec.configPatches[1].patch.value.typed_config.value.config.vm_config.code.local.filename is missing',
    );
    const remote = handWritten.replace(
      'code: {local: {filename: /var/local/lib/wasm-filters/a.wasm}}',
      'code: {remote: {http_uri: {uri: x}}}',
    );
    expect(bad(remote)).toThrow('vm_config.code.remote is not supported');
    expect(bad('kind: EnvoyFilter\nspec: {configPatches: []}')).toThrow(
      'spec.configPatches is missing or empty',
    );
    expect(bad('a: [1')).toThrow('bad.yaml: document 1: not valid YAML');
    expect(bad('')).toThrow('bad.yaml: no EnvoyFilter or WasmPlugin in it');
  });
});
