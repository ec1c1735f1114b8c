/**
 * Controller benchmark (issue 4): 1,000 ASMFilterDeployments over 1,000 Deployments against the test
 * Kubernetes API server, tags resolved in the real registry, agents already holding the modules. Measures
 * the time from the first CR create until every EnvoyFilter is applied and every CR is Ready, against a
 * baseline measured in the same run: the time the same API server takes to accept 1,000 plain creates
 * from the same client at the same concurrency. The controller runs as its own process
 * (`meshwasm controller`), so its peak RSS (VmHWM) is its own. Also the pure render of 10,000 CRs.
 *
 * Targets: every EnvoyFilter applied in under 30 s; controller peak RSS under 250 MB; idle RSS with the
 * CRs cached <= 100 MB (read 30 s after the last CR is Ready, and at 5 s for reference); render under 1 s.
 * Run alone: npx tsx bench/controller.ts [count]
 */
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseAllDocuments } from 'yaml';
import { KubeClient, loadKubeConfig, Resources, type KubeObject } from '../src/kube/index.js';
import { AGENT_NAME, MODULES_ANNOTATION, NAME_LABEL } from '../src/mesh/index.js';
import { buildCli } from './lib/build-cli.js';
import { startKubeApiServer } from '../test/support/kube-apiserver/index.js';
import { freePort } from '../test/support/ports.js';
import { startRegistry } from '../test/support/registry.js';
import { pushModule } from '../test/controller/images.js';
import { runRenderBenchmark } from './render.js';

const root = join(fileURLToPath(import.meta.url), '..', '..');

async function pool(count: number, concurrency: number, fn: (i: number) => Promise<unknown>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < count) await fn(next++);
    }),
  );
}

async function until(fn: () => boolean | Promise<boolean>, what: string, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await fn())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

function statusMb(pid: number, field: 'VmHWM' | 'VmRSS'): number {
  const m = new RegExp(`${field}:\\s+(\\d+) kB`).exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) / 1024 : NaN;
}
const peakRssMb = (pid: number) => statusMb(pid, 'VmHWM');
/**
 * Idle RSS is read twice after the last CR is Ready: soon, and once V8's memory reducer has had time to
 * act (it shrinks the heap some 10-20 s after allocation stops), which is what a quiet controller holds.
 */
const IDLE_SOON_MS = 5000;
const IDLE_SETTLED_MS = 30_000;

export async function runControllerBenchmark(count = 1000, concurrency = 8): Promise<void> {
  const server = await startKubeApiServer();
  const registry = await startRegistry();
  const client = new KubeClient(loadKubeConfig(server.kubeconfigPath));
  let child: ReturnType<typeof spawn> | undefined;
  try {
    for (const name of ['istio-system', 'bench', 'baseline'])
      await client.create(Resources.namespaces, { apiVersion: 'v1', kind: 'Namespace', metadata: { name } });
    const crds = [
      ...parseAllDocuments(readFileSync(join(root, 'deploy', 'crd.yaml'), 'utf8')),
      ...parseAllDocuments(readFileSync(join(root, 'test', 'controller', 'envoyfilter-crd.yaml'), 'utf8')),
    ];
    for (const d of crds) await client.create(Resources.crds, d.toJS() as KubeObject);

    const images = 10;
    const digests: string[] = [];
    for (let i = 0; i < images; i++)
      digests.push(await pushModule(registry.url, `bench/filter-${i}`, 'v1', `bench-${i}`));
    for (const node of ['node-1', 'node-2', 'node-3']) {
      const name = `agent-${node}`;
      await client.create(Resources.pods, {
        apiVersion: 'v1',
        kind: 'Pod',
        metadata: {
          name,
          namespace: 'istio-system',
          labels: { [NAME_LABEL]: AGENT_NAME },
          annotations: { [MODULES_ANNOTATION]: JSON.stringify(digests) },
        },
        spec: { nodeName: node, containers: [{ name: 'agent', image: 'meshwasm' }] },
      });
      await client.patch(
        Resources.pods,
        'istio-system',
        name,
        { status: { conditions: [{ type: 'Ready', status: 'True' }] } },
        'merge',
        'status',
      );
    }

    // Baseline: the API server accepting `count` plain creates from this client.
    const b0 = performance.now();
    await pool(count, concurrency, (i) =>
      client.create(Resources.configMaps, {
        apiVersion: 'v1',
        kind: 'ConfigMap',
        metadata: { name: `cm-${i}`, namespace: 'baseline' },
        data: { i: String(i) },
      }),
    );
    const baselineMs = performance.now() - b0;

    await pool(count, concurrency, (i) =>
      client.create(Resources.deployments, {
        apiVersion: 'apps/v1',
        kind: 'Deployment',
        metadata: { name: `app-${i}`, namespace: 'bench' },
        spec: {
          selector: { matchLabels: { app: `app-${i}` } },
          template: {
            metadata: { labels: { app: `app-${i}`, version: 'v1' } },
            spec: { containers: [{ name: 'app', image: 'app' }] },
          },
        },
      }),
    );

    const port = await freePort();
    const cli = buildCli();
    child = spawn(
      process.execPath,
      [
        cli,
        'controller',
        '--kubeconfig',
        server.kubeconfigPath,
        '--namespace',
        'istio-system',
        '--plain-http',
        '--host',
        '127.0.0.1',
        '--port',
        String(port),
        '--workers',
        '8',
      ],
      { stdio: 'ignore', env: { ...process.env, MESHWASM_LOG_LEVEL: 'warn' } },
    );
    await until(
      async () =>
        (
          await fetch(`http://127.0.0.1:${port}/metrics`).then(
            (r) => r.text(),
            () => '',
          )
        ).includes('meshwasm_controller_leader 1'),
      'the controller to lead',
      60_000,
    );
    const idleRss = peakRssMb(child.pid!);

    const t0 = performance.now();
    await pool(count, concurrency, (i) =>
      client.create(Resources.filterDeployments, {
        apiVersion: 'istio.alibabacloud.com/v1beta1',
        kind: 'ASMFilterDeployment',
        metadata: { name: `app-${i}-wasmfilter`, namespace: 'bench' },
        spec: {
          workload: { kind: 'Deployment', labels: { app: `app-${i}`, version: 'v1' } },
          filter: {
            parameters: JSON.stringify({ name: 'x-bench', value: String(i) }),
            image: `${registry.host}/bench/filter-${i % images}:v1`,
            rootID: 'my_root_id',
          },
        },
      }),
    );
    const createdMs = performance.now() - t0;
    await until(
      () => server.objects('networking.istio.io', 'envoyfilters', 'bench').length === count,
      'every EnvoyFilter',
      300_000,
    );
    const appliedMs = performance.now() - t0;
    const ready = () =>
      server
        .objects('istio.alibabacloud.com', 'asmfilterdeployments', 'bench')
        .filter((o) =>
          (o.status as { conditions?: { type: string; status: string }[] } | undefined)?.conditions?.some(
            (c) => c.type === 'Ready' && c.status === 'True',
          ),
        ).length;
    await until(() => ready() === count, 'every CR Ready', 300_000);
    const readyMs = performance.now() - t0;
    const patched = server
      .objects('apps', 'deployments', 'bench')
      .filter((d) => JSON.stringify(d).includes('wasmfilters-dir')).length;
    const rss = peakRssMb(child.pid!);
    // Idle: every CR cached and converged, nothing changing; what a quiet controller holds.
    await new Promise((r) => setTimeout(r, IDLE_SOON_MS));
    const idleSoonRss = statusMb(child.pid!, 'VmRSS');
    await new Promise((r) => setTimeout(r, IDLE_SETTLED_MS - IDLE_SOON_MS));
    const idleCachedRss = statusMb(child.pid!, 'VmRSS');
    const images_ =
      (
        server.objects('', 'configmaps', 'istio-system').find((c) => c.metadata.name === 'asmwasm-images')
          ?.data as { images?: string } | undefined
      )?.images ?? '';

    const lines = [
      `controller: ${count} ASMFilterDeployments over ${count} Deployments (test API server, ${images} tags in the real registry, 3 agents)`,
      `  baseline: API server accepts ${count} plain creates (concurrency ${concurrency}): ${baselineMs.toFixed(0)} ms`,
      `  CR creates sent in ${createdMs.toFixed(0)} ms; every EnvoyFilter applied after ${appliedMs.toFixed(0)} ms; every CR Ready after ${readyMs.toFixed(0)} ms`,
      `  ratio (all EnvoyFilters applied / baseline): ${(appliedMs / baselineMs).toFixed(1)}x; ratio (all Ready / baseline): ${(readyMs / baselineMs).toFixed(1)}x`,
      `  workloads patched: ${patched}/${count}; images ConfigMap lines: ${images_.trim().split('\n').filter(Boolean).length}`,
      `  controller process peak RSS: ${rss.toFixed(0)} MB (after start-up, before the CRs: ${idleRss.toFixed(0)} MB)`,
      `  controller idle RSS with the ${count} CRs cached: ${idleCachedRss.toFixed(0)} MB ${IDLE_SETTLED_MS / 1000} s after the last was Ready (${idleSoonRss.toFixed(0)} MB after ${IDLE_SOON_MS / 1000} s)`,
      `  targets: applied under 30 s -> ${appliedMs < 30_000 ? 'met' : 'NOT met'}; peak RSS under 250 MB -> ${rss < 250 ? 'met' : 'NOT met'}; idle RSS with ${count} CRs <= 100 MB -> ${idleCachedRss <= 100 ? 'met' : 'NOT met'}`,
    ];
    process.stdout.write(`${lines.join('\n')}\n`);
  } finally {
    if (child && child.exitCode === null) {
      child.kill('SIGTERM');
      await new Promise((r) => child!.once('exit', r));
    }
    client.close();
    await registry.destroy();
    await server.stop();
  }
  const r = runRenderBenchmark(10_000);
  process.stdout.write(
    `  pure render of ${r.count} CRs: ${r.renderMs.toFixed(0)} ms (baseline JSON.stringify ${r.baselineMs.toFixed(1)} ms, ratio ${r.ratio.toFixed(1)}x) -> target under 1 s ${r.renderMs < 1000 ? 'met' : 'NOT met'}\n`,
  );
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  await runControllerBenchmark(Number(process.argv[2] ?? 1000));
}
