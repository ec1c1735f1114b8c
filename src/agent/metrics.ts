/** The agent's Prometheus metrics, in a registry of its own (several agents can share a process in tests). */
import { Counter, Gauge, Histogram, Registry, registerProcessMetrics } from '../metrics/index.js';

export class AgentMetrics {
  readonly registry = new Registry();
  readonly modulesPresent: Gauge;
  readonly modulesWanted: Gauge;
  readonly pulls: Counter<'result'>;
  readonly bytesPulled: Counter;
  readonly pullDuration: Histogram<'result'>;
  readonly lastSync: Gauge;
  readonly removed: Counter;
  readonly ready: Gauge;
  readonly signatureFailures: Counter;

  constructor(options: { processMetrics?: boolean } = {}) {
    const registers = [this.registry];
    this.modulesPresent = new Gauge({
      name: 'meshwasm_agent_modules_present',
      help: 'Wasm modules present and verified in the module directory',
      registers,
    });
    this.modulesWanted = new Gauge({
      name: 'meshwasm_agent_modules_wanted',
      help: 'Distinct references in the wanted set',
      registers,
    });
    this.pulls = new Counter({
      name: 'meshwasm_agent_pulls_total',
      help: 'Module pulls by result (success, failure)',
      labelNames: ['result'],
      registers,
    });
    this.bytesPulled = new Counter({
      name: 'meshwasm_agent_pulled_bytes_total',
      help: 'Bytes of module layers downloaded from registries',
      registers,
    });
    this.pullDuration = new Histogram({
      name: 'meshwasm_agent_pull_duration_seconds',
      help: 'Duration of module pulls, by result',
      labelNames: ['result'],
      buckets: [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120],
      registers,
    });
    this.lastSync = new Gauge({
      name: 'meshwasm_agent_last_sync_timestamp_seconds',
      help: 'When the module directory last matched the wanted set (Unix time)',
      registers,
    });
    this.removed = new Counter({
      name: 'meshwasm_agent_modules_removed_total',
      help: 'Modules garbage-collected after their grace period, or removed because they failed verification',
      registers,
    });
    this.ready = new Gauge({
      name: 'meshwasm_agent_ready',
      help: '1 once the first sync has finished',
      registers,
    });
    this.signatureFailures = new Counter({
      name: 'meshwasm_agent_signature_failures_total',
      help: 'Pulls refused because no trusted signature of the digest verified (with a verification policy)',
      registers,
    });
    for (const result of ['success', 'failure']) this.pulls.inc({ result }, 0);
    if (options.processMetrics) registerProcessMetrics(this.registry, 'meshwasm_agent_');
  }
}
