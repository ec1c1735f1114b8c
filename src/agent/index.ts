/** The node agent: keeps a node's Wasm module directory equal to the cluster's wanted set. */
export { Agent, DEFAULT_SETTINGS, type AgentSettings, type ReferenceStatus } from './agent.js';
export {
  planSync,
  retryDelay,
  type Plan,
  type PlanInput,
  type PullAction,
  type WantedReference,
} from './plan.js';
export { Puller, type Credentials, type PullerOptions } from './puller.js';
export { AgentMetrics } from './metrics.js';
export { startAgent, type AgentOptions, type RunningAgent } from './run.js';
export { parseDuration } from './duration.js';
export type { Reporter, AgentEvent } from './reporter.js';
