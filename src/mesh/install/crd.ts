/**
 * The ASMFilterDeployment CustomResourceDefinition (pure). Its structural schema accepts the seed's
 * filter.yaml as is; the enums catch a wrong kind or context at `kubectl apply` time, while checks that
 * OpenAPI cannot express (parameters are JSON, image is a reference) are the controller's, in status.
 */
import {
  API_GROUP,
  API_VERSION,
  CRD_NAME,
  FILTER_DEPLOYMENT_KIND,
  FILTER_DEPLOYMENT_LIST_KIND,
  FILTER_DEPLOYMENT_PLURAL,
  FILTER_DEPLOYMENT_SHORT_NAMES,
  CONDITION_TYPES,
  MESH_CONFIG_KINDS,
  DEFAULT_PATCH_CONTEXT,
  PATCH_CONTEXTS,
  PULL_POLICIES,
  WORKLOAD_KINDS,
  type KubeObject,
} from '../types.js';
import { commonLabels } from './labels.js';

type Schema = Record<string, unknown>;

const str = (description: string, extra: Schema = {}): Schema => ({ type: 'string', description, ...extra });

const specSchema: Schema = {
  type: 'object',
  description: 'Which workloads get which Wasm filter.',
  required: ['workload', 'filter'],
  properties: {
    meshConfig: str(
      "What the controller generates: an EnvoyFilter or an Istio WasmPlugin; default the controller's --mesh-config.",
      { enum: [...MESH_CONFIG_KINDS] },
    ),
    workload: {
      type: 'object',
      description: 'The workloads whose sidecars load the filter.',
      required: ['kind', 'labels'],
      properties: {
        kind: str('The kind of the target workloads.', { enum: [...WORKLOAD_KINDS] }),
        labels: {
          type: 'object',
          description: 'Pod labels that select the target workloads (all must match).',
          minProperties: 1,
          additionalProperties: { type: 'string' },
        },
      },
    },
    filter: {
      type: 'object',
      description: 'The Wasm filter and how Envoy runs it.',
      required: ['image'],
      properties: {
        patchContext: str('Where the filter applies.', {
          enum: [...PATCH_CONTEXTS],
          default: DEFAULT_PATCH_CONTEXT,
        }),
        parameters: str('The filter configuration, a JSON document passed to the plugin as a string.'),
        image: str('OCI reference of the Wasm image (registry/repository:tag or @sha256:digest).', {
          minLength: 1,
        }),
        rootID: str('The root context id the filter registers.'),
        id: str('The filter name in Envoy; default <name>.<namespace>.'),
        imagePullPolicy: str(
          'Always re-resolves the tag periodically; default Always for latest or no tag.',
          {
            enum: [...PULL_POLICIES],
          },
        ),
        failOpen: {
          type: 'boolean',
          description: 'If true, requests bypass a filter that fails to load or traps; default false (503).',
        },
      },
    },
  },
};

const conditionSchema: Schema = {
  type: 'object',
  required: ['type', 'status'],
  properties: {
    type: str('Condition type.', { enum: [...CONDITION_TYPES] }),
    status: str('True, False or Unknown.', { enum: ['True', 'False', 'Unknown'] }),
    reason: str('Machine-readable reason (CamelCase).'),
    message: str('Human-readable explanation.'),
    lastTransitionTime: str('When the status last changed.', { format: 'date-time' }),
    observedGeneration: { type: 'integer', format: 'int64' },
  },
};

const statusSchema: Schema = {
  type: 'object',
  description: 'Written by the meshwasm controller.',
  // The controller may report more than listed here; keep it rather than prune it silently.
  'x-kubernetes-preserve-unknown-fields': true,
  properties: {
    observedGeneration: { type: 'integer', format: 'int64' },
    resolvedImage: str('The image pinned to its manifest digest.'),
    digest: str('The manifest digest the filter runs.'),
    matchedWorkloads: {
      type: 'array',
      items: { type: 'string' },
      description: 'Kind/name of matched workloads.',
    },
    missingNodes: {
      type: 'array',
      items: { type: 'string' },
      description: 'Nodes still missing the module.',
    },
    conditions: {
      type: 'array',
      items: conditionSchema,
      'x-kubernetes-list-type': 'map',
      'x-kubernetes-list-map-keys': ['type'],
    },
  },
};

export function filterDeploymentCrd(): KubeObject {
  return {
    apiVersion: 'apiextensions.k8s.io/v1',
    kind: 'CustomResourceDefinition',
    metadata: { name: CRD_NAME, labels: commonLabels() },
    spec: {
      group: API_GROUP,
      scope: 'Namespaced',
      names: {
        plural: FILTER_DEPLOYMENT_PLURAL,
        singular: FILTER_DEPLOYMENT_KIND.toLowerCase(),
        kind: FILTER_DEPLOYMENT_KIND,
        listKind: FILTER_DEPLOYMENT_LIST_KIND,
        shortNames: [...FILTER_DEPLOYMENT_SHORT_NAMES],
        categories: ['meshwasm'],
      },
      versions: [
        {
          name: API_VERSION,
          served: true,
          storage: true,
          subresources: { status: {} },
          additionalPrinterColumns: [
            { name: 'Workload', type: 'string', jsonPath: '.spec.workload.kind' },
            { name: 'Image', type: 'string', jsonPath: '.spec.filter.image' },
            { name: 'Ready', type: 'string', jsonPath: '.status.conditions[?(@.type=="Ready")].status' },
            { name: 'Reason', type: 'string', jsonPath: '.status.conditions[?(@.type=="Ready")].reason' },
            { name: 'Digest', type: 'string', jsonPath: '.status.digest', priority: 1 },
            { name: 'Age', type: 'date', jsonPath: '.metadata.creationTimestamp' },
          ],
          schema: {
            openAPIV3Schema: {
              type: 'object',
              description:
                'Deploys a WebAssembly filter from an OCI registry to the sidecars of matching workloads.',
              required: ['spec'],
              properties: {
                apiVersion: { type: 'string' },
                kind: { type: 'string' },
                metadata: { type: 'object' },
                spec: specSchema,
                status: statusSchema,
              },
            },
          },
        },
      ],
    },
  };
}
