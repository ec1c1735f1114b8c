/**
 * Pure render benchmark: validate and render 10,000 ASMFilterDeployments (EnvoyFilter, workload patch,
 * pinned image), against a baseline measured in the same run: JSON.stringify of the same 10,000 inputs.
 * Target (issue 4): the render of 10,000 CRs under 1 s.
 *
 * Run alone: npx tsx bench/render.ts [count]
 * The controller benchmark can import `makeFilterDeployments` and `runRenderBenchmark`.
 */
import { fileURLToPath } from 'node:url';
import { renderFilterDeployment } from '../src/mesh/index.js';

export interface RenderBenchResult {
  count: number;
  baselineMs: number;
  renderMs: number;
  /** renderMs / baselineMs */
  ratio: number;
  perCrMicros: number;
}

/** `count` distinct, valid CRs shaped like the seed's filter.yaml (one per Deployment `app-<i>`). */
export function makeFilterDeployments(count: number, namespace = 'bench'): Array<Record<string, unknown>> {
  const crs: Array<Record<string, unknown>> = [];
  for (let i = 0; i < count; i++) {
    crs.push({
      apiVersion: 'istio.alibabacloud.com/v1beta1',
      kind: 'ASMFilterDeployment',
      metadata: {
        name: `app-${i}-wasmfilter`,
        namespace,
        uid: `00000000-0000-4000-8000-${String(i).padStart(12, '0')}`,
      },
      spec: {
        workload: { kind: 'Deployment', labels: { app: `app-${i}`, version: 'v1' } },
        filter: {
          patchContext: 'SIDECAR_INBOUND',
          parameters: JSON.stringify({ name: 'resp-header-demo', value: `hello app ${i}` }),
          image: `registry.example.com/filters/header-${i % 50}:v${i % 7}`,
          rootID: 'my_root_id',
          id: `app-${i}-wasmfilter.${namespace}`,
        },
      },
    });
  }
  return crs;
}

/** A deterministic fake manifest digest per index (rendering only needs its shape). */
function digestFor(i: number): string {
  return `sha256:${(i % 50).toString(16).padStart(2, '0').repeat(32)}`;
}

function time(fn: () => void): number {
  const start = performance.now();
  fn();
  return performance.now() - start;
}

export function runRenderBenchmark(count = 10_000, rounds = 5): RenderBenchResult {
  const crs = makeFilterDeployments(count);
  let sink = 0;
  const baseline = () => {
    for (const cr of crs) sink += JSON.stringify(cr).length;
  };
  const render = () => {
    for (let i = 0; i < crs.length; i++) {
      const result = renderFilterDeployment(crs[i], digestFor(i));
      if (!result.ok) throw new Error(`bench input ${i} is invalid: ${JSON.stringify(result.errors)}`);
      sink += result.value.pinnedImage.length;
    }
  };
  // Warm both paths up, then take the best of several rounds of each, interleaved.
  baseline();
  render();
  let baselineMs = Infinity;
  let renderMs = Infinity;
  for (let r = 0; r < rounds; r++) {
    baselineMs = Math.min(baselineMs, time(baseline));
    renderMs = Math.min(renderMs, time(render));
  }
  if (sink === 0) throw new Error('benchmark produced nothing');
  return {
    count,
    baselineMs,
    renderMs,
    ratio: renderMs / baselineMs,
    perCrMicros: (renderMs * 1000) / count,
  };
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const count = Number(process.argv[2] ?? 10_000);
  const r = runRenderBenchmark(count);
  process.stdout.write(
    [
      `render: ${r.count} ASMFilterDeployments validated and rendered`,
      `  baseline JSON.stringify of the inputs: ${r.baselineMs.toFixed(1)} ms`,
      `  render (validate + EnvoyFilter + workload patch + pinned ref): ${r.renderMs.toFixed(1)} ms (${r.perCrMicros.toFixed(1)} us/CR)`,
      `  ratio render/baseline: ${r.ratio.toFixed(1)}x`,
      `  target: ${r.count} CRs under 1000 ms -> ${r.renderMs < 1000 ? 'met' : 'NOT met'}`,
      '',
    ].join('\n'),
  );
}
