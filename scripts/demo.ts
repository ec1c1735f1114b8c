/**
 * `npm run demo`: the seed's whole procedure on one machine, on embedded defaults (no cluster, no
 * registry server). Each step prints what it does, the way a user would read it; any failure exits non-zero.
 *
 *   1. build the example filter and push it in the seed's `oras push` format (embedded OCI-layout store,
 *      or the registry in $MESHWASM_REGISTRY with credentials from the Docker config)
 *   2. enable the extension (show what `meshwasm install` applies) and render the seed's filter.yaml
 *   3. the node agent syncs the module into a directory standing for /var/local/lib/wasm-filters
 *   4. a "details" service and the sidecar in front of it: `meshwasm run -f envoyfilter.yaml
 *      --filters-dir <node dir>`, the CLI reading the rendered EnvoyFilter itself (root id,
 *      configuration, local file name, fail-open)
 *   5. the seed's request, GET /details/123, and the response headers
 *   6. everything stopped
 */
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse as parseYaml } from 'yaml';
import { startAgent, type RunningAgent } from '../src/agent/index.js';
import { describeError } from '../src/errors.js';
import { createLogger } from '../src/log.js';
import { installManifests, renderFilterDeployment, toYaml } from '../src/mesh/index.js';
import { digestHex, LAYOUT_SCHEME, OciSession, pushWasm } from '../src/oci/index.js';

const root = fileURLToPath(new URL('..', import.meta.url));
const example = join(root, 'examples', 'header-filter');
const wasmFile = join(example, 'build', 'header-filter.wasm');
const quiet = createLogger('demo', 'warn');
let stepNo = 0;
const step = (title: string) => console.log(`\n\x1b[1m[${++stepNo}/6] ${title}\x1b[0m`);
const say = (line = '') => console.log(`    ${line}`.replace(/\n/g, '\n    '));

async function main(): Promise<void> {
  const work = mkdtempSync(join(tmpdir(), 'meshwasm-demo-'));
  const filtersDir = join(work, 'var-local-lib-wasm-filters');
  const cleanups: (() => Promise<void> | void)[] = [() => rmSync(work, { recursive: true, force: true })];
  const started = Date.now();
  try {
    // 1. Build and push
    step('Build the example filter and push it (oras push format)');
    if (
      !existsSync(wasmFile) ||
      statSync(wasmFile).mtimeMs < statSync(join(example, 'assembly', 'index.ts')).mtimeMs
    ) {
      say('$ npm run build:filter');
      const built = spawnSync('npm', ['run', '--silent', 'build:filter'], { cwd: root, stdio: 'inherit' });
      if (built.status !== 0) throw new Error('building the example filter failed');
    }
    const registry = process.env.MESHWASM_REGISTRY;
    const seed = parseYaml(readFileSync(join(example, 'filter.yaml'), 'utf8')) as {
      spec: { filter: { image: string } };
    };
    const session = new OciSession({
      plainHttp: process.env.MESHWASM_PLAIN_HTTP === '1',
      caFile: process.env.MESHWASM_CA_FILE,
    });
    cleanups.push(() => session.close());
    const pushRef = registry ? `${registry}/asm/asm-test:v0.1` : `${join(work, 'oci-store')}:v0.1`;
    if (registry) seed.spec.filter.image = pushRef;
    const { target, selector } = await session.open(pushRef, { ociLayout: !registry });
    say(
      `$ meshwasm push ${registry ? '' : '--oci-layout '}${pushRef} header-filter.wasm --config runtime-config.json`,
    );
    const pushed = await pushWasm(target, selector, wasmFile, {
      configFile: join(example, 'runtime-config.json'),
    });
    say(`pushed ${pushed.module.size} bytes; manifest ${pushed.descriptor.digest}`);
    say(`config ${pushed.config.mediaType}, layer ${pushed.layer.mediaType}`);
    if (!registry) say(`(the embedded store stands in for ${seed.spec.filter.image.split('/')[0]})`);

    // 2. Enable and render
    step("Enable the extension and render the seed's filter.yaml");
    say(
      '$ meshwasm install --dry-run    (aliyun servicemesh UpdateMeshFeature --WebAssemblyFilterEnabled=true)',
    );
    for (const object of installManifests()) {
      const meta = object.metadata as { name: string; namespace?: string };
      say(`  ${object.kind.padEnd(26)} ${meta.namespace ? `${meta.namespace}/` : ''}${meta.name}`);
    }
    say(
      `$ meshwasm render -f examples/header-filter/filter.yaml --digest ${pushed.descriptor.digest.slice(0, 19)}...`,
    );
    const rendered = renderFilterDeployment(seed, pushed.descriptor.digest, { defaultNamespace: 'default' });
    if (!rendered.ok)
      throw new Error(
        `filter.yaml is invalid: ${rendered.errors.map((e) => `${e.field}: ${e.message}`).join('; ')}`,
      );
    const { envoyFilter, pinnedImage, workload } = rendered.value;
    if (!envoyFilter) throw new Error('the demo renders the default, an EnvoyFilter');
    say(toYaml(envoyFilter).trimEnd());
    say(
      `Deployment ${workload.namespace}/{${Object.entries(workload.matchLabels)
        .map(([k, v]) => `${k}=${v}`)
        .join(',')}} pod template annotations:`,
    );
    say(toYaml(workload.patch.spec.template.metadata.annotations).trimEnd());

    // 3. The agent
    step('The node agent syncs the module into the node directory');
    const wanted = registry
      ? pinnedImage
      : `${LAYOUT_SCHEME}${join(work, 'oci-store')}@${pushed.descriptor.digest}`;
    say(`images ConfigMap (istio-system/asmwasm-images): ${pinnedImage}`);
    const imagesFile = join(work, 'images');
    writeFileSync(imagesFile, `${wanted}\n`);
    const agent: RunningAgent = await startAgent({
      dir: filtersDir,
      imagesFile,
      port: 0,
      jitterMs: 0,
      plainHttp: process.env.MESHWASM_PLAIN_HTTP === '1',
      caFile: process.env.MESHWASM_CA_FILE,
      log: quiet,
    });
    cleanups.push(() => agent.stop());
    const file = join(filtersDir, `${digestHex(pushed.descriptor.digest)}.wasm`);
    await waitFor(() => existsSync(file), 20_000, `the agent did not write ${file}`);
    const ready = await fetch(`http://127.0.0.1:${agent.port}/readyz`);
    say(
      `agent ready (${ready.status}); ${file.replace(work, '<node>')} (${statSync(file).size} bytes, mode ${(statSync(file).mode & 0o777).toString(8)})`,
    );

    // 4. details + sidecar from the EnvoyFilter
    step('Start "details" and the meshwasm sidecar, configured from the rendered EnvoyFilter');
    const details = createServer((req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(
        JSON.stringify({ id: Number(req.url?.split('/').pop()), author: 'William Shakespeare', year: 1595 }),
      );
    });
    await new Promise<void>((resolve) => details.listen(0, '127.0.0.1', resolve));
    cleanups.push(() => new Promise<void>((resolve) => details.close(() => resolve())));
    const detailsUrl = `http://127.0.0.1:${(details.address() as AddressInfo).port}`;
    const envoyFilterFile = join(work, 'envoyfilter.yaml');
    writeFileSync(envoyFilterFile, toYaml(envoyFilter));
    const runArgs = ['-f', envoyFilterFile, '--filters-dir', filtersDir, '--upstream', detailsUrl];
    say(`$ meshwasm run ${runArgs.join(' ').replaceAll(work, '<work>')}`);
    const sidecar = await meshwasmRun(runArgs);
    cleanups.push(sidecar.stop);
    say(`details on ${detailsUrl}, sidecar on ${sidecar.url}`);

    // 5. The seed's check
    step('curl -v http://details:9080/details/123 (through the sidecar)');
    const response = await fetch(`${sidecar.url}/details/123`);
    say(`< HTTP/1.1 ${response.status} ${response.statusText}`);
    response.headers.forEach((value, name) => say(`< ${name}: ${value}`));
    say(await response.text());
    const configured = JSON.parse(
      envoyFilter.spec.configPatches[0]!.patch.value.typed_config.config.configuration?.value ?? '{}',
    ) as { name: string; value: string };
    if (response.headers.get(configured.name) !== configured.value) {
      throw new Error(
        `the response lacks "${configured.name}: ${configured.value}": the filter did not take effect`,
      );
    }
    say(`=> "${configured.name}: ${configured.value}" was added by the filter, as configured in filter.yaml`);
    // And with no parameters, the header the seed's walkthrough shows.
    const bare = await meshwasmRun(['--filter', file, '--upstream', detailsUrl]);
    cleanups.push(bare.stop);
    const plain = await fetch(`${bare.url}/details/123`);
    await plain.arrayBuffer();
    if (plain.headers.get('resp-header-demo') !== 'added by our filter')
      throw new Error('the default header is missing');
    say(`=> without parameters: "resp-header-demo: ${plain.headers.get('resp-header-demo')}"`);

    step('Stop everything');
    console.log(`\nDemo finished in ${((Date.now() - started) / 1000).toFixed(1)} s.`);
  } finally {
    for (const cleanup of cleanups.reverse()) await cleanup();
  }
}

/** `meshwasm run ARGS --listen 127.0.0.1:0` as its own process, as a user starts it; resolves once it listens. */
async function meshwasmRun(args: string[]): Promise<{ url: string; stop: () => Promise<void> }> {
  const child = spawn(
    process.execPath,
    [join(root, 'bin', 'meshwasm.js'), 'run', ...args, '--listen', '127.0.0.1:0'],
    {
      stdio: ['ignore', 'ignore', 'pipe'],
      env: { ...process.env, MESHWASM_LOG_LEVEL: 'warn' },
    },
  );
  let stderr = '';
  const url = await new Promise<string>((resolve, reject) => {
    child.stderr.on('data', (c: Buffer) => {
      stderr += c.toString();
      const m = /listening on (http:\/\/\S+),/.exec(stderr);
      if (m) resolve(m[1]!);
    });
    child.once('exit', (code) => reject(new Error(`meshwasm run exited (${code}): ${stderr.trim()}`)));
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  return {
    url,
    stop: async () => {
      if (child.exitCode === null) child.kill('SIGTERM');
      await exited;
    },
  };
}

async function waitFor(check: () => boolean, timeoutMs: number, message: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(message);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

main().catch((err: unknown) => {
  console.error(`\nDemo failed: ${describeError(err)}`);
  process.exitCode = 1;
});
