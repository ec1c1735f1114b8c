/**
 * The walkthrough with signatures, end to end with the real parts: docker-registry with Basic auth over
 * TLS; the CLI for generate-key-pair, login, push, sign and `install --verification-policy`; the
 * controller and two node agents as separate processes against the test Kubernetes API server, each given
 * the policy exactly as install wired it (the installed ConfigMap written out where the pods mount it,
 * the installed `--verification-policy` argument); a request through a sidecar configured from the
 * EnvoyFilter the controller generated.
 *
 * With the policy, an unsigned module is refused (SignatureVerified=False; it never reaches a node's
 * directory) while a signed one rolls out, and when an unsigned build is pushed over the running signed
 * tag, the signed module keeps running on every node.
 */
import type { ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stringify as toYaml } from 'yaml';
import { KubeClient, loadKubeConfig, Resources, type KubeObject } from '../../src/kube/index.js';
import {
  AGENT_NAME,
  CONTROLLER_NAME,
  IMAGES_CONFIGMAP_NAME,
  NAME_LABEL,
  VERIFICATION_POLICY_DIR,
  VERIFICATION_POLICY_NAME,
  type ASMFilterDeployment,
} from '../../src/mesh/index.js';
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

const RUNTIME_CONFIG = join(root, 'examples', 'header-filter', 'runtime-config.json');
const work = mkdtempSync(join(tmpdir(), 'meshwasm-e2e-signed-'));
const nodes = ['node-1', 'node-2'];
const nodeDir = (node: string) => join(work, node, 'wasm-filters');
const NS = 'istio-system';
const PASSWORD = 'e2e signing password';

type CR = KubeObject & ASMFilterDeployment;
type Obj = KubeObject & Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

const meshwasm = cliRunner({ env: { COSIGN_PASSWORD: PASSWORD }, cwd: work });

// The agents and the controller run here as processes: that needs the test API server (on a real
// cluster they are the installed pods).
describe.runIf(!process.env.KUBECONFIG)('signed filters, end to end', () => {
  let registry: TestRegistry;
  let api: KubeApiServer;
  let client: KubeClient;
  let details: Awaited<ReturnType<typeof startDetails>>;
  const processes = new Processes();
  const startProcess = processes.start.bind(processes);
  let tls: string[];
  let image: string;
  let signed: string;
  let unsigned: string;
  /** where the installed policy is "mounted" for the local processes, and the flag install gave them */
  let policyArgs: { controller: string[]; agent: string[] };
  let controller: ChildProcess;
  /** the digest the signed filter runs at the end */
  let current: string;

  const kubectl = (...args: string[]) => sh('kubectl', ['--kubeconfig', api.kubeconfigPath, ...args]);
  const getCr = (name: string) => client.find<CR>(Resources.filterDeployments, 'default', name);
  const cond = (cr: CR | undefined, type: string) => cr?.status?.conditions?.find((c) => c.type === type);
  const envoyFilter = (name: string) =>
    client.find<Obj>(Resources.envoyFilters, 'default', `${name}-wasmfilter`);
  const imagesList = async () =>
    ((await client.get<Obj>(Resources.configMaps, NS, IMAGES_CONFIGMAP_NAME)).data?.images as string) ?? '';
  const filesOn = (node: string) => (existsSync(nodeDir(node)) ? readdirSync(nodeDir(node)) : []);
  const filterCr = (name: string, tag: string, app: string) =>
    toYaml({
      apiVersion: 'istio.alibabacloud.com/v1beta1',
      kind: 'ASMFilterDeployment',
      metadata: { name, namespace: 'default' },
      spec: {
        workload: { kind: 'Deployment', labels: { app } },
        filter: {
          patchContext: 'SIDECAR_INBOUND',
          parameters: '{"name":"hello","value":"signed details"}',
          image: `${image}:${tag}`,
          imagePullPolicy: 'Always',
          rootID: 'my_root_id',
          id: `${name}.default`,
        },
      },
    });
  const apply = async (name: string, yaml: string) => {
    const file = join(work, `${name}.yaml`);
    writeFileSync(file, yaml);
    await kubectl('apply', '-f', file);
  };
  const request = (ef: unknown) => requestThroughSidecar(details.url, ef, nodeDir('node-1'));
  const push = async (tag: string, config = RUNTIME_CONFIG) =>
    JSON.parse(
      await meshwasm(['push', `${image}:${tag}`, FILTER, '--config', config, '--output', 'json', ...tls]),
    ).digest as string;

  beforeAll(async () => {
    registry = await startRegistry({ auth: 'basic', tls: true });
    tls = ['--ca-file', registry.caFile!, '--registry-config', join(work, 'docker-config.json')];
    image = `${registry.host}/asm/signed-test`;
    api = await startKubeApiServer();
    client = new KubeClient(loadKubeConfig(api.kubeconfigPath));
    details = await startDetails({ id: 123 });
  });

  afterAll(async () => {
    await processes.stopAll();
    await details?.close();
    client?.close();
    await api?.stop();
    await registry?.destroy();
  });

  it('a key pair, a signed and an unsigned module in the registry (CLI)', async () => {
    await meshwasm(['generate-key-pair']);
    expect(readFileSync(join(work, 'cosign.key'), 'utf8')).toContain('ENCRYPTED SIGSTORE PRIVATE KEY');
    await meshwasm(
      ['login', registry.host, '-u', registry.username, '--password-stdin', ...tls],
      registry.password,
    );
    signed = await push('v1');
    await meshwasm(['sign', `${image}:v1`, '--key', 'cosign.key', ...tls]);
    // Another build (another digest), never signed.
    const config = join(work, 'runtime-config-unsigned.json');
    writeFileSync(
      config,
      JSON.stringify({
        type: 'envoy_proxy',
        abiVersions: ['v0.2.1'],
        config: { rootIds: ['my_root_id', 'x'] },
      }),
    );
    unsigned = await push('unsigned', config);
    expect(unsigned).not.toBe(signed);
    expect(
      JSON.parse(
        await meshwasm(['verify', `${image}:v1`, '--key', 'cosign.pub', '--output', 'json', ...tls]),
      ),
    ).toMatchObject({ digest: signed });
  });

  it('install --verification-policy wires the same policy into the controller and the agents', async () => {
    await kubectl('apply', '-f', join(root, 'test', 'controller', 'envoyfilter-crd.yaml'));
    writeFileSync(join(work, 'policy.yaml'), 'keys:\n  - name: release\n    file: cosign.pub\n');
    await meshwasm(['install', '--kubeconfig', api.kubeconfigPath, '--verification-policy', 'policy.yaml']);
    await kubectl(
      'create',
      'secret',
      'docker-registry',
      'asmwasm-cache',
      '-n',
      NS,
      `--docker-server=${registry.host}`,
      `--docker-username=${registry.username}`,
      `--docker-password=${registry.password}`,
    );
    // The kubelet's part: the installed ConfigMap, as files where the pods mount it.
    const cm = await client.get<Obj>(Resources.configMaps, NS, VERIFICATION_POLICY_NAME);
    const mounted = join(work, 'mounted-policy');
    mkdirSync(mounted);
    for (const [key, text] of Object.entries(cm.data as Record<string, string>))
      writeFileSync(join(mounted, key), text);
    const flagOf = async (resource: typeof Resources.deployments, name: string) => {
      const w = await client.get<Obj>(resource, NS, name);
      const args = w.spec.template.spec.containers[0].args as string[];
      const at = args.indexOf('--verification-policy');
      expect(at).toBeGreaterThan(-1);
      expect(args[at + 1]!.startsWith(`${VERIFICATION_POLICY_DIR}/`)).toBe(true);
      return ['--verification-policy', args[at + 1]!.replace(VERIFICATION_POLICY_DIR, mounted)];
    };
    policyArgs = {
      controller: await flagOf(Resources.deployments, CONTROLLER_NAME),
      agent: await flagOf(Resources.daemonSets, AGENT_NAME),
    };

    for (const node of nodes) {
      const pod = `meshwasm-agent-${node}`;
      await client.create(Resources.pods, {
        apiVersion: 'v1',
        kind: 'Pod',
        metadata: { name: pod, namespace: NS, labels: { [NAME_LABEL]: AGENT_NAME } },
        spec: { nodeName: node, containers: [{ name: 'agent', image: 'meshwasm' }] },
      });
      await client.patch(
        Resources.pods,
        NS,
        pod,
        { status: { phase: 'Running', conditions: [{ type: 'Ready', status: 'True' }] } },
        'merge',
        'status',
      );
      startProcess(
        [
          'agent',
          '--dir',
          nodeDir(node),
          '--kubeconfig',
          api.kubeconfigPath,
          '--namespace',
          NS,
          '--port',
          '0',
          '--jitter',
          '0s',
          '--retry-base',
          '200ms',
          '--ca-file',
          registry.caFile!,
          ...policyArgs.agent,
        ],
        { POD_NAME: pod, POD_NAMESPACE: NS, NODE_NAME: node },
      );
    }
    controller = startProcess([
      'controller',
      '--kubeconfig',
      api.kubeconfigPath,
      '--namespace',
      NS,
      '--port',
      '0',
      '--ca-file',
      registry.caFile!,
      '--identity',
      'e2e-signed',
      '--tag-refresh',
      '1s',
      ...policyArgs.controller,
    ]);
  });

  it('an unsigned module is refused: SignatureVerified=False, nothing rendered, on no node', async () => {
    await apply('unsigned-filter', filterCr('unsigned-filter', 'unsigned', 'reviews'));
    const refused = await until('SignatureVerified=False', async () => {
      const cr = await getCr('unsigned-filter');
      return cond(cr, 'SignatureVerified')?.status === 'False' && cr;
    });
    const sig = cond(refused, 'SignatureVerified')!;
    expect(sig.reason).toBe('Untrusted');
    expect(sig.message).toContain(unsigned);
    expect(sig.message).toMatch(/tried key release \(sha256:[0-9a-f]+/);
    expect(cond(refused, 'Ready')?.reason).toBe('SignatureRejected');
    expect(await envoyFilter('unsigned-filter')).toBeUndefined();
    expect(await imagesList()).not.toContain(unsigned);
    // The controller writes the Event right after the status it reports, so it may land a moment later.
    const warned = await until('the SignatureVerificationFailed Event', async () =>
      (await client.list<Obj>(Resources.events, 'default')).items.some(
        (e) => e.involvedObject?.name === 'unsigned-filter' && e.reason === 'SignatureVerificationFailed',
      ),
    );
    expect(warned).toBe(true);
    for (const node of nodes)
      expect(filesOn(node).filter((f) => f.includes(digestHex(unsigned)))).toEqual([]);
  });

  it('a signed module rolls out to both nodes and runs', async () => {
    await apply('signed-filter', filterCr('signed-filter', 'v1', 'details'));
    const ef = await until('the EnvoyFilter of the signed module', () => envoyFilter('signed-filter'));
    expect(JSON.stringify(ef)).toContain(`${digestHex(signed)}.wasm`);
    for (const node of nodes) {
      const file = join(nodeDir(node), `${digestHex(signed)}.wasm`);
      expect(readFileSync(file).equals(readFileSync(FILTER))).toBe(true);
    }
    const cr = await until('Ready', async () => {
      const c = await getCr('signed-filter');
      return cond(c, 'Ready')?.status === 'True' && c;
    });
    expect(cond(cr, 'SignatureVerified')).toMatchObject({ status: 'True', reason: 'Verified' });
    expect(cond(cr, 'SignatureVerified')!.message).toContain(`${signed} is signed by key release`);
    const res = await request(ef);
    expect(res.status).toBe(200);
    expect(res.headers.get('hello')).toBe('signed details');
    // The unsigned one is still refused, and still on no node.
    expect(cond(await getCr('unsigned-filter'), 'SignatureVerified')?.status).toBe('False');
    for (const node of nodes)
      expect(filesOn(node).filter((f) => f.includes(digestHex(unsigned)))).toEqual([]);
  });

  it('an unsigned build pushed over the running tag is refused; the signed module keeps running', async () => {
    const config = join(work, 'runtime-config-over.json');
    writeFileSync(
      config,
      JSON.stringify({
        type: 'envoy_proxy',
        abiVersions: ['v0.2.1'],
        config: { rootIds: ['my_root_id', 'y'] },
      }),
    );
    const over = await push('v1', config);
    current = over;
    expect(over).not.toBe(signed);
    const refused = await until('the re-pushed tag refused', async () => {
      const cr = await getCr('signed-filter');
      const c = cond(cr, 'SignatureVerified');
      return c?.status === 'False' && c.message.includes(over) && cr;
    });
    expect(cond(refused, 'Ready')!.message).toContain(
      `EnvoyFilter signed-filter-wasmfilter keeps the module ${signed}`,
    );
    expect(refused.status?.digest).toBe(signed);
    const ef = await envoyFilter('signed-filter');
    expect(JSON.stringify(ef)).toContain(`${digestHex(signed)}.wasm`);
    const images = await imagesList();
    expect(images).toContain(`${image}@${signed}`);
    expect(images).not.toContain(over);
    for (const node of nodes) {
      expect(filesOn(node)).toContain(`${digestHex(signed)}.wasm`);
      expect(filesOn(node).filter((f) => f.includes(digestHex(over)))).toEqual([]);
    }
    expect((await request(ef)).headers.get('hello')).toBe('signed details');

    // Signing the new build lets it roll forward.
    await meshwasm(['sign', `${image}:v1`, '--key', 'cosign.key', ...tls]);
    const rolled = await until('the EnvoyFilter on the newly signed digest', async () => {
      const e = await envoyFilter('signed-filter');
      return JSON.stringify(e).includes(`${digestHex(over)}.wasm`) && e;
    });
    for (const node of nodes) expect(filesOn(node)).toContain(`${digestHex(over)}.wasm`);
    expect((await request(rolled)).headers.get('hello')).toBe('signed details');
  });

  it('a node never trusts the ConfigMap alone: an unsigned reference written into it is refused by every agent', async () => {
    // Stop the controller (it would put the list back), then write what an intruder could.
    controller.kill('SIGTERM');
    await new Promise((r) => (controller.exitCode === null ? controller.once('exit', r) : r(undefined)));
    const list = await imagesList();
    await client.patch(Resources.configMaps, NS, IMAGES_CONFIGMAP_NAME, {
      data: { images: `${list}${image}@${unsigned}\n` },
    });
    for (const node of nodes) {
      const event = await until(`a SignatureVerificationFailed Event from the agent on ${node}`, async () =>
        (await client.list<Obj>(Resources.events, NS)).items.find(
          (e) =>
            e.involvedObject?.name === `meshwasm-agent-${node}` &&
            e.reason === 'SignatureVerificationFailed' &&
            e.message.includes(unsigned),
        ),
      );
      expect(event.message).toContain('key release');
      expect(filesOn(node).filter((f) => f.includes(digestHex(unsigned)))).toEqual([]);
      expect(filesOn(node)).toContain(`${digestHex(current)}.wasm`); // the running module stays
    }
  });
});
