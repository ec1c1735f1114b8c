export { startController, type ControllerOptions, type RunningController } from './controller.js';
export { type Resolver } from './reconciler.js';
export { WorkQueue } from './queue.js';
