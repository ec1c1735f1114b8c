/** The only place that talks to Kubernetes: config, a JSON REST client, informers, apply, events, leases. */
export { loadKubeConfig, type KubeConnection } from './config.js';
export {
  KubeClient,
  KubeApiError,
  isAlreadyExists,
  isConflict,
  isNotFound,
  type KubeList,
  type KubeObject,
  type ListOptions,
  type PatchType,
} from './client.js';
export { Informer, type InformerHandlers } from './informer.js';
export { apply, type ApplyAction } from './apply.js';
export { EventRecorder, type EventType } from './events.js';
export { LeaderElector, type LeaderElectionOptions } from './leader.js';
export { Resources, apiVersionOf, resourceFor, resourcePath, type ResourceRef } from './resources.js';
