export { startController, type ControllerOptions, type RunningController } from './controller.js';
export { type Resolver } from './types.js';
export { WorkQueue } from './queue.js';
export { decideFilter, type FilterDecision, type FilterInput, type FilterOutcome } from './decide.js';
export { filterKey, workloadKey, IMAGES_KEY, keyId, type QueueKey } from './keys.js';
