import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { MeshwasmError } from '../../src/errors.js';
import { parseFilterDeployment, validateFilterDeployment, type FieldError } from '../../src/mesh/index.js';
import { DIGEST, seedFilterDeployment, variant, type Loose } from './fixtures.js';

function errorsOf(input: unknown): FieldError[] {
  const result = validateFilterDeployment(input);
  if (result.ok) throw new Error('expected validation to fail');
  return result.errors;
}

function fields(input: unknown): string[] {
  return errorsOf(input).map((e) => e.field);
}

describe('validateFilterDeployment', () => {
  it("accepts the seed's filter.yaml as is and normalises it", () => {
    const result = validateFilterDeployment(seedFilterDeployment());
    expect(result.ok).toBe(true);
    if (!result.ok) return;
    expect(result.value).toEqual({
      name: 'details-v1-wasmfiltersample',
      namespace: 'default',
      meshConfig: 'EnvoyFilter',
      workload: { kind: 'Deployment', labels: { app: 'details', version: 'v1' } },
      filter: {
        patchContext: 'SIDECAR_INBOUND',
        parameters: '{"name":"hello","value":"hello details"}',
        image: 'acree-1-registry.cn-hangzhou.cr.aliyuncs.com/asm/asm-test:v0.1',
        reference: {
          registry: 'acree-1-registry.cn-hangzhou.cr.aliyuncs.com',
          repository: 'asm/asm-test',
          tag: 'v0.1',
        },
        rootID: 'my_root_id',
        id: 'details-v1-wasmfiltersample.default',
        imagePullPolicy: 'IfNotPresent',
        failOpen: false,
      },
    });
  });

  it("our golden copy is the example's filter.yaml (examples/header-filter)", () => {
    const example = new URL('../../examples/header-filter/filter.yaml', import.meta.url);
    expect(parse(readFileSync(example, 'utf8'))).toEqual(seedFilterDeployment());
  });

  it('applies defaults: patchContext, id from name.namespace, namespace option, failOpen false', () => {
    const cr = variant((c) => {
      delete c.spec.filter.patchContext;
      delete c.spec.filter.id;
      delete c.spec.filter.rootID;
      delete c.spec.filter.parameters;
    });
    const result = validateFilterDeployment(cr, { defaultNamespace: 'shop' });
    expect(result.ok && result.value.filter).toMatchObject({
      patchContext: 'SIDECAR_INBOUND',
      id: 'details-v1-wasmfiltersample.shop',
      rootID: undefined,
      parameters: undefined,
      failOpen: false,
    });
    expect(result.ok && result.value.namespace).toBe('shop');
  });

  it('keeps metadata.namespace, uid and generation when present', () => {
    const cr = variant((c) => {
      c.metadata.namespace = 'bookinfo';
      c.metadata.uid = 'a-uid';
      c.metadata.generation = 4;
    });
    const result = validateFilterDeployment(cr, { defaultNamespace: 'ignored' });
    expect(result.ok && [result.value.namespace, result.value.uid, result.value.generation]).toEqual([
      'bookinfo',
      'a-uid',
      4,
    ]);
  });

  it.each([
    ['latest', 'r.example.com/f/x:latest', 'Always'],
    ['no tag', 'r.example.com/f/x', 'Always'],
    ['a version tag', 'r.example.com/f/x:v1', 'IfNotPresent'],
    ['a digest', `r.example.com/f/x@${DIGEST}`, 'IfNotPresent'],
  ])('defaults imagePullPolicy for %s', (_what, image, policy) => {
    const result = validateFilterDeployment(variant((c) => (c.spec.filter.image = image)));
    expect(result.ok && result.value.filter.imagePullPolicy).toBe(policy);
  });

  it('honours explicit imagePullPolicy and failOpen', () => {
    const result = validateFilterDeployment(
      variant((c) => {
        c.spec.filter.imagePullPolicy = 'Always';
        c.spec.filter.failOpen = true;
      }),
    );
    expect(result.ok && [result.value.filter.imagePullPolicy, result.value.filter.failOpen]).toEqual([
      'Always',
      true,
    ]);
  });

  it.each(['SIDECAR_INBOUND', 'SIDECAR_OUTBOUND', 'GATEWAY', 'ANY'])('accepts patchContext %s', (context) => {
    const result = validateFilterDeployment(variant((c) => (c.spec.filter.patchContext = context)));
    expect(result.ok && result.value.filter.patchContext).toBe(context);
  });

  it.each(['StatefulSet', 'DaemonSet'])('accepts workload kind %s', (kind) => {
    const result = validateFilterDeployment(variant((c) => (c.spec.workload.kind = kind)));
    expect(result.ok && result.value.workload.kind).toBe(kind);
  });

  it.each<[string, (c: Loose) => void, string, RegExp]>([
    [
      'a wrong workload kind',
      (c) => (c.spec.workload.kind = 'ReplicaSet'),
      'spec.workload.kind',
      /Deployment, StatefulSet, DaemonSet.*"ReplicaSet"/,
    ],
    ['empty labels', (c) => (c.spec.workload.labels = {}), 'spec.workload.labels', /non-empty/],
    ['missing labels', (c) => delete c.spec.workload.labels, 'spec.workload.labels', /non-empty/],
    [
      'a non-string label value',
      (c) => (c.spec.workload.labels.version = 1),
      'spec.workload.labels.version',
      /must be a string/,
    ],
    [
      'an invalid label value',
      (c) => (c.spec.workload.labels.app = 'no spaces'),
      'spec.workload.labels.app',
      /not a valid label value/,
    ],
    [
      'parameters that are not JSON',
      (c) => (c.spec.filter.parameters = '{name: hello'),
      'spec.filter.parameters',
      /not valid JSON/,
    ],
    [
      'parameters given as a YAML map',
      (c) => (c.spec.filter.parameters = { name: 'x' }),
      'spec.filter.parameters',
      /string holding JSON/,
    ],
    [
      'an invalid image',
      (c) => (c.spec.filter.image = 'Registry.example.com/UPPER:v1'),
      'spec.filter.image',
      /invalid reference/,
    ],
    [
      'a bad digest in the image',
      (c) => (c.spec.filter.image = 'r.example.com/x@sha256:abc'),
      'spec.filter.image',
      /not a digest/,
    ],
    ['a missing image', (c) => delete c.spec.filter.image, 'spec.filter.image', /required/],
    [
      'a wrong patchContext',
      (c) => (c.spec.filter.patchContext = 'INBOUND'),
      'spec.filter.patchContext',
      /SIDECAR_INBOUND, SIDECAR_OUTBOUND, GATEWAY, ANY/,
    ],
    ['an empty id', (c) => (c.spec.filter.id = ''), 'spec.filter.id', /non-empty/],
    ['a numeric rootID', (c) => (c.spec.filter.rootID = 7), 'spec.filter.rootID', /must be a string/],
    [
      'a wrong pull policy',
      (c) => (c.spec.filter.imagePullPolicy = 'Never'),
      'spec.filter.imagePullPolicy',
      /IfNotPresent, Always/,
    ],
    ['a string failOpen', (c) => (c.spec.filter.failOpen = 'yes'), 'spec.filter.failOpen', /true or false/],
    ['a misspelt field', (c) => (c.spec.filter.rootId = 'x'), 'spec.filter.rootId', /unknown field/],
    ['a missing name', (c) => delete c.metadata.name, 'metadata.name', /required/],
    ['an invalid name', (c) => (c.metadata.name = 'Details_V1'), 'metadata.name', /not a valid name/],
    ['a wrong apiVersion', (c) => (c.apiVersion = 'istio.alibabacloud.com/v1'), 'apiVersion', /v1beta1/],
    ['a wrong kind', (c) => (c.kind = 'FilterDeployment'), 'kind', /ASMFilterDeployment/],
    ['a missing workload', (c) => delete c.spec.workload, 'spec.workload', /required/],
  ])('rejects %s, naming the field', (_what, edit, field, message) => {
    const errors = errorsOf(variant(edit));
    const error = errors.find((e) => e.field === field);
    expect(error, JSON.stringify(errors)).toBeDefined();
    expect(error?.message).toMatch(message);
  });

  it('reports every problem at once', () => {
    const cr = variant((c) => {
      c.spec.workload.kind = 'Pod';
      c.spec.workload.labels = {};
      c.spec.filter.parameters = 'not json';
      c.spec.filter.image = '';
      c.spec.filter.patchContext = 'X';
    });
    expect(fields(cr).sort()).toEqual(
      [
        'spec.filter.image',
        'spec.filter.parameters',
        'spec.filter.patchContext',
        'spec.workload.kind',
        'spec.workload.labels',
      ].sort(),
    );
  });

  it('rejects non-objects and a missing spec', () => {
    expect(fields('text')).toEqual(['']);
    expect(fields(null)).toEqual(['']);
    expect(
      fields({
        apiVersion: 'istio.alibabacloud.com/v1beta1',
        kind: 'ASMFilterDeployment',
        metadata: { name: 'a' },
      }),
    ).toEqual(['spec']);
  });

  it('parseFilterDeployment throws INVALID_INPUT naming the CR and each field', () => {
    const cr = variant((c) => {
      c.spec.filter.parameters = '{';
      c.spec.workload.kind = 'Job';
    });
    let thrown: unknown;
    try {
      parseFilterDeployment(cr);
    } catch (err) {
      thrown = err;
    }
    expect(thrown).toBeInstanceOf(MeshwasmError);
    const err = thrown as MeshwasmError;
    expect(err.code).toBe('INVALID_INPUT');
    expect(err.message).toContain('details-v1-wasmfiltersample');
    expect(err.message).toContain('spec.filter.parameters');
    expect(err.message).toContain('spec.workload.kind');
    expect(err.hint).toBeTruthy();
    expect(parseFilterDeployment(seedFilterDeployment()).name).toBe('details-v1-wasmfiltersample');
  });
});
