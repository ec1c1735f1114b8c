/**
 * The seed, end to end, with the real parts: docker-registry with Basic auth over TLS, the CLI for login,
 * push, install and uninstall, kubectl for the seed's own commands, the controller and the node agent as
 * separate processes against the test Kubernetes API server (or the cluster of $KUBECONFIG), and a
 * request through a meshwasm sidecar configured from the EnvoyFilter the controller generated.
 */
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse as parseYaml, stringify as toYaml } from 'yaml';
import { KubeClient, loadKubeConfig, Resources, type KubeObject } from '../../src/kube/index.js';
import { AGENT_NAME, MODULES_ANNOTATION, NAME_LABEL } from '../../src/mesh/index.js';
import { digestHex } from '../../src/oci/index.js';
import { startKubeApiServer, type KubeApiServer } from '../support/kube-apiserver/index.js';
import { startRegistry, type TestRegistry } from '../support/registry.js';
import {
  cliRunner,
  FILTER,
  Processes,
  requestThroughSidecar,
  root,
  sh,
  startDetails,
  until,
} from './harness.js';

const work = mkdtempSync(join(tmpdir(), 'meshwasm-e2e-'));
const agentDir = join(work, 'node-1', 'wasm-filters');
const NS = 'istio-system';
/**
 * The steps that run the agent and the controller as local processes need the test API server: on a real
 * cluster (KUBECONFIG set) the agents are the DaemonSet's pods, and a local agent could not stand in for a
 * node. There, only login/push, install, the seed's kubectl commands and uninstall run.
 */
const onTestServer = !process.env.KUBECONFIG;

type EnvoyFilterObject = KubeObject & { spec: { configPatches: { patch: { value: unknown } }[] } };

const meshwasm = cliRunner();

describe('the seed, end to end', () => {
  let registry: TestRegistry;
  let api: KubeApiServer | undefined;
  let kubeconfig: string;
  let client: KubeClient;
  let details: Awaited<ReturnType<typeof startDetails>>;
  const processes = new Processes();
  const startProcess = processes.start.bind(processes);
  const dockerConfig = join(work, 'docker-config.json');
  let tls: string[];
  let image: string;
  let firstDigest: string;

  const kubectl = (...args: string[]) => sh('kubectl', ['--kubeconfig', kubeconfig, ...args]);
  const envoyFilters = async () =>
    (await client.list<EnvoyFilterObject>(Resources.envoyFilters, 'default')).items;
  const deployment = () =>
    client.get<KubeObject & { spec: { template: { metadata: { annotations?: Record<string, string> } } } }>(
      Resources.deployments,
      'default',
      'details-v1',
    );
  const request = (envoyFilter: unknown) => requestThroughSidecar(details.url, envoyFilter, agentDir);
  const seedFilterYaml = (parameters: string, tag: string) => {
    const doc = parseYaml(readFileSync(join(root, 'examples', 'header-filter', 'filter.yaml'), 'utf8'));
    doc.spec.filter.image = `${registry.host}/asm/asm-test:${tag}`;
    doc.spec.filter.parameters = parameters;
    const file = join(work, 'filter.yaml');
    writeFileSync(file, toYaml(doc));
    return file;
  };

  beforeAll(async () => {
    registry = await startRegistry({ auth: 'basic', tls: true });
    tls = ['--ca-file', registry.caFile!, '--registry-config', dockerConfig];
    image = `${registry.host}/asm/asm-test`;
    if (process.env.KUBECONFIG) kubeconfig = process.env.KUBECONFIG;
    else {
      api = await startKubeApiServer();
      kubeconfig = api.kubeconfigPath;
    }
    client = new KubeClient(loadKubeConfig(kubeconfig));
    details = await startDetails({ id: 123, author: 'William Shakespeare' });
  });

  afterAll(async () => {
    await processes.stopAll();
    await details?.close();
    client?.close();
    await api?.stop();
    await registry.destroy();
  });

  it('login and push with the CLI', async () => {
    expect(
      await meshwasm(
        ['login', registry.host, '-u', registry.username, '--password-stdin', ...tls],
        registry.password,
      ),
    ).toContain('Login Succeeded');
    const pushed = JSON.parse(
      await meshwasm([
        'push',
        `${image}:v0.1`,
        FILTER,
        '--config',
        join(root, 'examples', 'header-filter', 'runtime-config.json'),
        '--output',
        'json',
        ...tls,
      ]),
    );
    firstDigest = pushed.digest;
    expect(pushed.format).toBe('artifact');
  });

  it('enables the extension and takes the seed commands', async () => {
    // Istio provides the EnvoyFilter CRD in a real mesh; the test server gets it here.
    if (api) await kubectl('apply', '-f', join(root, 'test', 'controller', 'envoyfilter-crd.yaml'));
    await meshwasm(['install', '--kubeconfig', kubeconfig]);
    writeFileSync(
      join(work, 'myconfig.json'),
      JSON.stringify({
        auths: { [registry.host]: { username: registry.username, password: registry.password } },
      }),
    );
    await kubectl(
      'create',
      'secret',
      'generic',
      'asmwasm-cache',
      '-n',
      NS,
      `--from-file=.dockerconfigjson=${join(work, 'myconfig.json')}`,
      '--type=kubernetes.io/dockerconfigjson',
    );
    const deploymentYaml = join(work, 'details.yaml');
    writeFileSync(
      deploymentYaml,
      toYaml({
        apiVersion: 'apps/v1',
        kind: 'Deployment',
        metadata: { name: 'details-v1', namespace: 'default', labels: { app: 'details', version: 'v1' } },
        spec: {
          selector: { matchLabels: { app: 'details', version: 'v1' } },
          template: {
            metadata: { labels: { app: 'details', version: 'v1' } },
            spec: {
              containers: [{ name: 'details', image: 'docker.io/istio/examples-bookinfo-details-v1:1.16.2' }],
            },
          },
        },
      }),
    );
    await kubectl('apply', '-f', deploymentYaml);
  });

  it.runIf(onTestServer)(
    'the agent pulls the module and reports it; only then the EnvoyFilter appears',
    async () => {
      await client.create(Resources.pods, {
        apiVersion: 'v1',
        kind: 'Pod',
        metadata: { name: 'meshwasm-agent-node-1', namespace: NS, labels: { [NAME_LABEL]: AGENT_NAME } },
        spec: { nodeName: 'node-1', containers: [{ name: 'agent', image: 'meshwasm' }] },
      });
      // The test server has no kubelet: mark the pod Ready as a kubelet would.
      await client.patch(
        Resources.pods,
        NS,
        'meshwasm-agent-node-1',
        { status: { phase: 'Running', conditions: [{ type: 'Ready', status: 'True' }] } },
        'merge',
        'status',
      );
      startProcess(
        [
          'agent',
          '--dir',
          agentDir,
          '--kubeconfig',
          kubeconfig,
          '--namespace',
          NS,
          '--port',
          '0',
          '--jitter',
          '0s',
          '--gc-grace',
          '2s',
          '--retry-base',
          '200ms',
          '--ca-file',
          registry.caFile!,
        ],
        {
          POD_NAME: 'meshwasm-agent-node-1',
          POD_NAMESPACE: NS,
          NODE_NAME: 'node-1',
        },
      );
      startProcess([
        'controller',
        '--kubeconfig',
        kubeconfig,
        '--namespace',
        NS,
        '--port',
        '0',
        '--ca-file',
        registry.caFile!,
        '--identity',
        'e2e',
      ]);

      await kubectl('apply', '-f', seedFilterYaml('{"name":"hello","value":"hello details"}', 'v0.1'));
      const seenBeforeFilter: string[][] = [];
      const [envoyFilter] = await until('the EnvoyFilter', async () => {
        const items = await envoyFilters();
        if (items.length === 0) {
          const pod = await client.get<KubeObject>(Resources.pods, NS, 'meshwasm-agent-node-1');
          seenBeforeFilter.push(JSON.parse(pod.metadata.annotations?.[MODULES_ANNOTATION] ?? '[]'));
        }
        return items.length > 0 && items;
      });
      const pod = await client.get<KubeObject>(Resources.pods, NS, 'meshwasm-agent-node-1');
      expect(JSON.parse(pod.metadata.annotations?.[MODULES_ANNOTATION] ?? '[]')).toContain(firstDigest);
      // The file was on the node before Envoy was told to load it.
      const file = join(agentDir, `${digestHex(firstDigest)}.wasm`);
      expect(readFileSync(file).equals(readFileSync(FILTER))).toBe(true);
      expect(JSON.stringify(envoyFilter)).toContain(
        `/var/local/lib/wasm-filters/${digestHex(firstDigest)}.wasm`,
      );
      expect(seenBeforeFilter.length).toBeGreaterThan(0);

      const annotations = (await deployment()).spec.template.metadata.annotations ?? {};
      expect(annotations['sidecar.istio.io/userVolume']).toBe(
        '[{"name":"wasmfilters-dir","hostPath":{"path":"/var/local/lib/wasm-filters"}}]',
      );
      expect(annotations['sidecar.istio.io/userVolumeMount']).toBe(
        '[{"mountPath":"/var/local/lib/wasm-filters","name":"wasmfilters-dir"}]',
      );
      const images = await client.get<KubeObject & { data: Record<string, string> }>(
        Resources.configMaps,
        NS,
        'asmwasm-images',
      );
      expect((images.data.images ?? '').trim()).toBe(`${image}@${firstDigest}`);

      const res = await request(envoyFilter);
      expect(res.status).toBe(200);
      expect(res.headers.get('hello')).toBe('hello details');
    },
  );

  it.runIf(onTestServer)(
    'new parameters change the header; a new tag version rolls the digest forward',
    async () => {
      await kubectl(
        'apply',
        '-f',
        seedFilterYaml('{"name":"resp-header-demo","value":"added by our filter"}', 'v0.1'),
      );
      const changed = await until('the new configuration', async () => {
        const [ef] = await envoyFilters();
        return ef && JSON.stringify(ef).includes('added by our filter') && ef;
      });
      expect((await request(changed)).headers.get('resp-header-demo')).toBe('added by our filter');

      const config = join(work, 'runtime-config-v2.json');
      writeFileSync(
        config,
        JSON.stringify({
          type: 'envoy_proxy',
          abiVersions: ['v0.2.1'],
          config: { rootIds: ['my_root_id', 'v2'] },
        }),
      );
      const second = JSON.parse(
        await meshwasm(['push', `${image}:v0.2`, FILTER, '--config', config, '--output', 'json', ...tls]),
      ).digest as string;
      expect(second).not.toBe(firstDigest);
      await kubectl(
        'apply',
        '-f',
        seedFilterYaml('{"name":"resp-header-demo","value":"added by our filter"}', 'v0.2'),
      );
      const rolled = await until('the EnvoyFilter on the new digest', async () => {
        const [ef] = await envoyFilters();
        return ef && JSON.stringify(ef).includes(`${digestHex(second)}.wasm`) && ef;
      });
      expect(existsSync(join(agentDir, `${digestHex(second)}.wasm`))).toBe(true);
      expect((await request(rolled)).headers.get('resp-header-demo')).toBe('added by our filter');
      const images = await client.get<KubeObject & { data: Record<string, string> }>(
        Resources.configMaps,
        NS,
        'asmwasm-images',
      );
      expect((images.data.images ?? '').trim()).toBe(`${image}@${second}`);
      // The old module is collected after the grace period, once nothing names it.
      await until(
        'the old module to be collected',
        () => !existsSync(join(agentDir, `${digestHex(firstDigest)}.wasm`)),
      );
      firstDigest = second;
    },
  );

  it.runIf(onTestServer)(
    'deleting the CR removes the EnvoyFilter, the annotations and the ConfigMap entry; the module is collected',
    async () => {
      await kubectl('delete', '-f', join(work, 'filter.yaml'));
      await until('the EnvoyFilter to go', async () => (await envoyFilters()).length === 0);
      await until(
        'the annotations to go',
        async () =>
          !('sidecar.istio.io/userVolume' in ((await deployment()).spec.template.metadata.annotations ?? {})),
      );
      await until('the ConfigMap entry to go', async () => {
        const images = await client.get<KubeObject & { data?: Record<string, string> }>(
          Resources.configMaps,
          NS,
          'asmwasm-images',
        );
        return (images.data?.images ?? '').trim() === '';
      });
      await until(
        'the module to be collected',
        () => !existsSync(join(agentDir, `${digestHex(firstDigest)}.wasm`)),
      );
    },
  );

  it('meshwasm uninstall removes what install applied', async () => {
    const out = await meshwasm(['uninstall', '--kubeconfig', kubeconfig, '--output', 'json']);
    expect(out.length).toBeGreaterThan(0);
    await expect(client.list(Resources.filterDeployments, 'default')).rejects.toBeTruthy();
  });
});
