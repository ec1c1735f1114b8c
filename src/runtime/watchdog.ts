/**
 * A watchdog for filter callbacks that never return. A guest call runs on the event loop and nothing
 * in V8 can interrupt it from there, so a filter stuck in a loop would leave the sidecar up but
 * answering nothing, for ever. Like Envoy's watchdog "kill" setting, this ends the process instead:
 * a second thread sees the same call still running after the timeout, writes one log line naming the
 * filter and the callback, and kills the process, so its supervisor (the kubelet) restarts it.
 *
 * The cost on the event loop is three atomic stores and two map lookups per guest call. There is one
 * watchdog per process: guest calls never overlap (one event loop), and the remedy is the process's.
 */
import { Worker } from 'node:worker_threads';

/** Slots of the shared state: the running call's number (0: none running) and its label's index. */
const CALL = 0;
const LABEL = 1;

// The watchdog thread, as plain JavaScript (a worker given source runs it as CommonJS). It polls at a
// quarter of the timeout: a call is reported between 1 and 1.25 timeouts after it started.
const WATCHER_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
const { writeSync } = require('node:fs');
const state = new Int32Array(workerData.buffer);
const labels = [];
parentPort.on('message', (m) => { labels[m.index] = m.label; });
let seen = 0;
let since = 0;
setInterval(() => {
  const call = Atomics.load(state, ${CALL});
  const now = Date.now();
  if (call === 0 || call !== seen) { seen = call; since = now; return; }
  if (now - since < workerData.timeoutMs) return;
  const label = labels[Atomics.load(state, ${LABEL})] || 'a filter callback';
  writeSync(2, JSON.stringify({
    level: 60, time: now, pid: process.pid, name: workerData.name,
    msg: label + ' has not returned after ' + (now - since) + ' ms (--filter-timeout '
      + workerData.timeoutMs + ' ms): the filter is stuck; killing the process so that it restarts',
  }) + '\\n');
  process.kill(process.pid, 'SIGKILL');
}, Math.max(5, Math.floor(workerData.timeoutMs / 4)));
`;

let active: Watchdog | undefined;

export class Watchdog {
  private readonly state = new Int32Array(new SharedArrayBuffer(8));
  private readonly worker: Worker;
  private readonly labels = new Map<string, Map<string, number>>();
  private nextLabel = 0;
  private calls = 0;
  private depth = 0;

  private constructor(timeoutMs: number, name: string) {
    this.worker = new Worker(WATCHER_SOURCE, {
      eval: true,
      workerData: { buffer: this.state.buffer, timeoutMs, name },
      // Only the watchdog: it must not keep the process alive, nor inherit the sidecar's flags.
      execArgv: [],
      stdout: false,
      stderr: false,
    });
    this.worker.unref();
  }

  /** Starts the process's watchdog (replacing any earlier one). */
  static start(options: { timeoutMs: number; name?: string }): Watchdog {
    void active?.stop();
    active = new Watchdog(options.timeoutMs, options.name ?? 'meshwasm');
    return active;
  }

  /** The running watchdog, if any (FilterVm asks before each guest call). */
  static get active(): Watchdog | undefined {
    return active;
  }

  /** A guest call starts; nested calls (a callback reached from a host function) count as the outer one. */
  enter(filter: string, callback: string): void {
    if (this.depth++ > 0) return;
    Atomics.store(this.state, LABEL, this.labelIndex(filter, callback));
    // Never 0, which means idle; wrapping around is harmless (the watcher only compares for change).
    this.calls = (this.calls % 0x7ffffffe) + 1;
    Atomics.store(this.state, CALL, this.calls);
  }

  exit(): void {
    if (--this.depth === 0) Atomics.store(this.state, CALL, 0);
  }

  private labelIndex(filter: string, callback: string): number {
    let byCallback = this.labels.get(filter);
    if (!byCallback) this.labels.set(filter, (byCallback = new Map()));
    let index = byCallback.get(callback);
    if (index === undefined) {
      index = this.nextLabel++;
      byCallback.set(callback, index);
      this.worker.postMessage({ index, label: `filter "${filter}": ${callback}` });
    }
    return index;
  }

  async stop(): Promise<void> {
    if (active === this) active = undefined;
    await this.worker.terminate();
  }
}
