export { Counter, Gauge, Histogram, Registry, type Collector, type Labels } from './registry.js';
export { registerProcessMetrics } from './process.js';
