/**
 * The environment the benchmarked processes start in. NODE_EXTRA_CA_CERTS, which this sandbox sets for
 * every process (and some corporate shells set too), makes Node 20 build its certificate store at every
 * start, before any script runs: measured here, `node -e 0` took 124 ms with it and 39 ms without, and a
 * file of one certificate still cost 40 ms. curl and Go read CA files only when they speak TLS. So the
 * start-up benches time processes as a user without it runs them, and print what it costs in the same
 * run; MESHWASM_BENCH_KEEP_ENV=1 keeps it.
 */
import { spawnSync } from 'node:child_process';
import { median } from './stats.js';

const VARIABLE = 'NODE_EXTRA_CA_CERTS';
const SAMPLES = 7;

/** Removes NODE_EXTRA_CA_CERTS from this process's environment (children inherit it); says what it cost. */
export function startLikeAUser(): string {
  const value = process.env[VARIABLE];
  if (value === undefined) return `environment: ${VARIABLE} is not set`;
  if (process.env.MESHWASM_BENCH_KEEP_ENV)
    return `environment: ${VARIABLE}=${value} kept (MESHWASM_BENCH_KEEP_ENV): every node start below loads it`;
  const without: NodeJS.ProcessEnv = { ...process.env };
  delete without[VARIABLE];
  const start = (env: NodeJS.ProcessEnv) => {
    const started = performance.now();
    spawnSync(process.execPath, ['-e', '0'], { env, stdio: 'ignore' });
    return performance.now() - started;
  };
  const withIt: number[] = [];
  const withoutIt: number[] = [];
  for (let i = 0; i < SAMPLES; i++) {
    withIt.push(start(process.env));
    withoutIt.push(start(without));
  }
  delete process.env[VARIABLE];
  return (
    `environment: ${VARIABLE}=${value} removed for the processes below (node -e 0: ` +
    `${median(withIt).toFixed(0)} ms with it, ${median(withoutIt).toFixed(0)} ms without, ${SAMPLES} interleaved ` +
    'runs; Node loads it at every start, curl and Go only for TLS); MESHWASM_BENCH_KEEP_ENV=1 keeps it'
  );
}
