/**
 * Process metrics under a prefix, computed when scraped (no timers, no event-loop monitor): CPU time,
 * resident memory, heap, open file descriptors, start time, Node version. The names follow the
 * conventions Prometheus clients use (`process_*`, `nodejs_*`), so existing dashboards keep working.
 */
import { readdirSync } from 'node:fs';
import type { Collector, Registry } from './registry.js';

const startTimeSeconds = Math.round(Date.now() / 1000 - process.uptime());

export function registerProcessMetrics(registry: Registry, prefix = ''): void {
  const collector: Collector = {
    render() {
      const cpu = process.cpuUsage();
      const memory = process.memoryUsage();
      const lines: string[] = [];
      const metric = (name: string, type: string, help: string, value: number | undefined, labels = '') => {
        if (value === undefined) return;
        lines.push(`# HELP ${prefix}${name} ${help}`, `# TYPE ${prefix}${name} ${type}`);
        lines.push(`${prefix}${name}${labels} ${value}`);
      };
      metric('process_cpu_user_seconds_total', 'counter', 'User CPU time spent in seconds.', cpu.user / 1e6);
      metric(
        'process_cpu_system_seconds_total',
        'counter',
        'System CPU time spent in seconds.',
        cpu.system / 1e6,
      );
      metric(
        'process_cpu_seconds_total',
        'counter',
        'Total user and system CPU time spent in seconds.',
        (cpu.user + cpu.system) / 1e6,
      );
      metric(
        'process_start_time_seconds',
        'gauge',
        'Start time of the process since unix epoch in seconds.',
        startTimeSeconds,
      );
      metric('process_resident_memory_bytes', 'gauge', 'Resident memory size in bytes.', memory.rss);
      metric('process_open_fds', 'gauge', 'Number of open file descriptors.', openFds());
      metric(
        'nodejs_heap_size_total_bytes',
        'gauge',
        'Process heap size from Node.js in bytes.',
        memory.heapTotal,
      );
      metric(
        'nodejs_heap_size_used_bytes',
        'gauge',
        'Process heap size used from Node.js in bytes.',
        memory.heapUsed,
      );
      metric(
        'nodejs_external_memory_bytes',
        'gauge',
        'Node.js external memory size in bytes.',
        memory.external,
      );
      metric(
        'nodejs_version_info',
        'gauge',
        'Node.js version info.',
        1,
        `{version="${process.version}",major="${process.versions.node.split('.')[0]}"}`,
      );
      return `${lines.join('\n')}\n`;
    },
  };
  registry.register(collector);
}

/** Open descriptors from /proc (Linux, where the processes run); absent elsewhere. */
function openFds(): number | undefined {
  try {
    return readdirSync('/proc/self/fd').length - 1; // the directory being read holds one
  } catch {
    return undefined;
  }
}
