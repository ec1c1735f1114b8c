/**
 * OpenAPI v3 discovery, just as much as kubectl reads from it: the index of group-versions and, per
 * group-version, the paths whose operations carry `x-kubernetes-group-version-kind` and the
 * `fieldValidation` parameter (kubectl then leaves validation to the server, which applies CRD schemas).
 * PATCH operations list merge and JSON patch only, so kubectl apply builds its strategic merge patches for
 * built-in kinds from its compiled types and uses JSON merge patches for custom resources, exactly as it
 * does against a real cluster for CRDs.
 */
import { createHash } from 'node:crypto';
import type { ResourceRegistry, ResourceType } from './resources.js';

const gvPath = (group: string, version: string): string =>
  group ? `apis/${group}/${version}` : `api/${version}`;

export function openApiIndex(registry: ResourceRegistry): object {
  const gvs = new Set<string>();
  for (const t of registry.all()) for (const v of t.versions) gvs.add(gvPath(t.group, v));
  const paths: Record<string, { serverRelativeURL: string }> = {};
  for (const gv of [...gvs].sort()) {
    const [group, version] = gv.startsWith('api/') ? ['', gv.slice(4)] : gv.slice(5).split('/');
    const hash = createHash('sha256')
      .update(JSON.stringify(openApiGroupVersion(registry, group!, version!)))
      .digest('hex')
      .slice(0, 16);
    paths[gv] = { serverRelativeURL: `/openapi/v3/${gv}?hash=${hash}` };
  }
  return { paths };
}

function operations(t: ResourceType, version: string): Record<string, object> {
  const gvk = { 'x-kubernetes-group-version-kind': { group: t.group, version, kind: t.kind } };
  const fieldValidation = {
    name: 'fieldValidation',
    in: 'query',
    schema: { type: 'string', uniqueItems: true },
  };
  const body = (types: string[]) => ({
    content: Object.fromEntries(types.map((c) => [c, { schema: { type: 'object' } }])),
  });
  const ok = { responses: { '200': { description: 'OK' } } };
  const base = `/${gvPath(t.group, version)}${t.namespaced ? '/namespaces/{namespace}' : ''}/${t.plural}`;
  return {
    [base]: {
      get: { operationId: `list${t.kind}`, ...gvk, ...ok },
      post: {
        operationId: `create${t.kind}`,
        ...gvk,
        parameters: [fieldValidation],
        requestBody: body(['*/*']),
        ...ok,
      },
    },
    [`${base}/{name}`]: {
      get: { operationId: `read${t.kind}`, ...gvk, ...ok },
      put: {
        operationId: `replace${t.kind}`,
        ...gvk,
        parameters: [fieldValidation],
        requestBody: body(['*/*']),
        ...ok,
      },
      patch: {
        operationId: `patch${t.kind}`,
        ...gvk,
        parameters: [fieldValidation],
        requestBody: body(['application/json-patch+json', 'application/merge-patch+json']),
        ...ok,
      },
      delete: { operationId: `delete${t.kind}`, ...gvk, ...ok },
    },
  };
}

export function openApiGroupVersion(
  registry: ResourceRegistry,
  group: string,
  version: string,
): object | undefined {
  const types = registry.inGroupVersion(group, version);
  if (types.length === 0) return undefined;
  return {
    openapi: '3.0.0',
    info: { title: 'Kubernetes', version: 'v1.32.0-meshwasm-test' },
    paths: Object.assign({}, ...types.map((t) => operations(t, version))),
    components: { schemas: {} },
  };
}
