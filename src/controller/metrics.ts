/** The controller's Prometheus metrics, in a registry of its own (two controllers may share a process in tests). */
import { Counter, Gauge, Histogram, Registry, registerProcessMetrics } from '../metrics/index.js';

export interface ControllerMetrics {
  registry: Registry;
  reconciles: Counter<'kind' | 'result'>;
  reconcileSeconds: Histogram<'kind'>;
  queueDepth: Gauge;
  leader: Gauge;
  resolutions: Counter<'result'>;
  signatureVerifications: Counter<'result'>;
  envoyFiltersApplied: Counter<'action'>;
  wasmPluginsApplied: Counter<'action'>;
  workloadPatches: Counter<'kind'>;
}

export function createMetrics(): ControllerMetrics {
  const registry = new Registry();
  registerProcessMetrics(registry, 'meshwasm_controller_');
  const registers = [registry];
  return {
    registry,
    reconciles: new Counter({
      name: 'meshwasm_controller_reconciles_total',
      help: 'Reconciles by key kind and result',
      labelNames: ['kind', 'result'],
      registers,
    }),
    reconcileSeconds: new Histogram({
      name: 'meshwasm_controller_reconcile_duration_seconds',
      help: 'Reconcile duration by key kind',
      labelNames: ['kind'],
      buckets: [0.001, 0.005, 0.02, 0.1, 0.5, 2, 10],
      registers,
    }),
    queueDepth: new Gauge({
      name: 'meshwasm_controller_queue_depth',
      help: 'Keys waiting in the work queue',
      registers,
    }),
    leader: new Gauge({
      name: 'meshwasm_controller_leader',
      help: '1 while this replica holds the leader lease',
      registers,
    }),
    resolutions: new Counter({
      name: 'meshwasm_controller_tag_resolutions_total',
      help: 'Tag to digest resolutions by result',
      labelNames: ['result'],
      registers,
    }),
    signatureVerifications: new Counter({
      name: 'meshwasm_controller_signature_verifications_total',
      help: 'Signature verifications of resolved digests (with a policy): verified, rejected (no trusted signature), error (could not check)',
      labelNames: ['result'],
      registers,
    }),
    envoyFiltersApplied: new Counter({
      name: 'meshwasm_controller_envoyfilter_writes_total',
      help: 'EnvoyFilters created or updated',
      labelNames: ['action'],
      registers,
    }),
    wasmPluginsApplied: new Counter({
      name: 'meshwasm_controller_wasmplugin_writes_total',
      help: 'WasmPlugins created or updated',
      labelNames: ['action'],
      registers,
    }),
    workloadPatches: new Counter({
      name: 'meshwasm_controller_workload_patches_total',
      help: 'Workload pod template annotation patches',
      labelNames: ['kind'],
      registers,
    }),
  };
}
