/**
 * The controller with a verification policy, against the test API server and the real registry: a
 * digest signed by the trusted key rolls out (SignatureVerified=True naming the key); an unsigned first
 * digest is never put in the images ConfigMap nor rendered; an unsigned or wrongly signed new digest of
 * a running filter leaves the previous one applied. Each refusal is a status condition naming the key
 * tried, a Warning Event and a count in /metrics.
 */
import { generateKeyPairSync, type KeyObject } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startController, type RunningController } from '../../src/controller/index.js';
import { Resources, type KubeObject } from '../../src/kube/index.js';
import {
  DIGEST_ANNOTATION,
  IMAGES_CONFIGMAP_NAME,
  envoyFilterName,
  type ASMFilterDeployment,
} from '../../src/mesh/index.js';
import { OciSession } from '../../src/oci/index.js';
import { parsePolicy, signManifest } from '../../src/sign/index.js';
import { startRegistry, type TestRegistry } from '../support/registry.js';
import { agentPod, reportModules, setupCluster, until, type TestCluster } from './cluster.js';
import { pushModule } from './images.js';

type CR = KubeObject & ASMFilterDeployment;
type Obj = KubeObject & Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

let cluster: TestCluster;
let registry: TestRegistry;
let controller: RunningController | undefined;
let session: OciSession;
const trusted = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
const other = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });

async function sign(repo: string, digest: string, key: KeyObject): Promise<void> {
  const { target } = await session.open(`${registry.host}/${repo}@${digest}`);
  await signManifest(target, await target.resolve(digest), `${registry.host}/${repo}`, key);
}

const client = () => cluster.client;
const getCr = (name: string) => client().find<CR>(Resources.filterDeployments, cluster.apps, name);
const getEf = (name: string) =>
  client().find<Obj>(Resources.envoyFilters, cluster.apps, envoyFilterName(name));
const imagesList = async () =>
  ((await client().find<Obj>(Resources.configMaps, cluster.system, IMAGES_CONFIGMAP_NAME))?.data?.images as
    string | undefined) ?? '';
const cond = (cr: CR | undefined, type: string) => cr?.status?.conditions?.find((c) => c.type === type);
const events = async (name: string): Promise<Obj[]> =>
  (await client().list<Obj>(Resources.events, cluster.apps)).items.filter(
    (e) => e.involvedObject?.name === name,
  );

function filter(name: string, image: string, extra: Record<string, unknown> = {}): CR {
  return {
    apiVersion: 'istio.alibabacloud.com/v1beta1',
    kind: 'ASMFilterDeployment',
    metadata: { name, namespace: cluster.apps },
    spec: {
      workload: { kind: 'Deployment', labels: { app: name } },
      filter: { image, rootID: 'my_root_id', ...extra },
    },
  } as CR;
}

beforeAll(async () => {
  cluster = await setupCluster();
  registry = await startRegistry();
  session = new OciSession({ plainHttp: true });
  await agentPod(cluster, 'node-a', []);
  const pem = trusted.publicKey.export({ type: 'spki', format: 'pem' }) as string;
  const policy = parsePolicy(
    `keys:\n  - name: release\n    publicKey: |\n${pem
      .trim()
      .split('\n')
      .map((l) => `      ${l}`)
      .join('\n')}\n`,
    'policy (test)',
    '.',
  );
  controller = await startController({
    kubeconfig: cluster.kubeconfigPath,
    namespace: cluster.system,
    port: 0,
    host: '127.0.0.1',
    transport: { plainHttp: true, maxAttempts: 1 },
    verification: policy,
    tagRefreshMs: 500,
    leaseDurationMs: 2000,
    renewDeadlineMs: 1500,
    retryPeriodMs: 250,
    retryBaseMs: 50,
    retryMaxMs: 500,
    resyncMs: 30_000,
  });
}, 120_000);

afterAll(async () => {
  await controller?.stop();
  await session?.close();
  await registry?.destroy();
  await cluster?.stop();
});

describe('controller --verification-policy', () => {
  it('an unsigned first digest is neither distributed nor rendered; signing it lets it roll out', async () => {
    const digest = await pushModule(registry.url, 'sig/first', 'v1', 'first-unsigned');
    await client().create(Resources.filterDeployments, filter('first', `${registry.host}/sig/first:v1`));
    const refused = await until(async () => {
      const cr = await getCr('first');
      return cond(cr, 'SignatureVerified')?.status === 'False' ? cr : undefined;
    }, 'SignatureVerified=False');
    const sig = cond(refused, 'SignatureVerified')!;
    expect(sig.reason).toBe('Untrusted');
    expect(sig.message).toContain(digest);
    expect(sig.message).toContain('no signature found');
    expect(sig.message).toMatch(/tried key release \(sha256:[0-9a-f]+/);
    expect(cond(refused, 'Ready')).toMatchObject({ status: 'False', reason: 'SignatureRejected' });
    expect(cond(refused, 'Ready')!.message).toContain('nothing is applied');
    expect(refused.status?.digest).toBeUndefined();
    expect(await getEf('first')).toBeUndefined();
    expect(await imagesList()).not.toContain(digest);
    await until(
      async () => (await events('first')).find((e) => e.reason === 'SignatureVerificationFailed'),
      'a SignatureVerificationFailed Event',
    );

    // The signature arrives after the image (the refusal is retried with backoff).
    await sign('sig/first', digest, trusted.privateKey);
    await until(async () => (await imagesList()).includes(digest), 'the signed digest in the images list');
    await reportModules(cluster, 'node-a', [digest]);
    const ready = await until(async () => {
      const cr = await getCr('first');
      return cond(cr, 'Ready')?.status === 'True' ? cr : undefined;
    }, 'Ready once signed');
    expect(cond(ready, 'SignatureVerified')).toMatchObject({
      status: 'True',
      reason: 'Verified',
    });
    expect(cond(ready, 'SignatureVerified')!.message).toMatch(
      new RegExp(`^${digest} is signed by key release \\(sha256:`),
    );
    expect((await getEf('first'))!.metadata.annotations?.[DIGEST_ANNOTATION]).toBe(digest);
    expect((await events('first')).map((e) => e.reason)).toContain('SignatureVerified');
  });

  it('a re-pushed tag with an unsigned or wrongly signed digest leaves the running digest applied', async () => {
    const d1 = await pushModule(registry.url, 'sig/running', 'v1', 'running-1');
    await sign('sig/running', d1, trusted.privateKey);
    await reportModules(cluster, 'node-a', [d1]);
    await client().create(
      Resources.filterDeployments,
      filter('running', `${registry.host}/sig/running:v1`, { imagePullPolicy: 'Always' }),
    );
    await until(
      async () => cond(await getCr('running'), 'Ready')?.status === 'True',
      'the signed digest applied',
    );

    for (const [seed, key, problem] of [
      ['running-unsigned', undefined, 'no signature found'],
      ['running-other-key', other.privateKey, 'made by none of the keys'],
    ] as const) {
      const d2 = await pushModule(registry.url, 'sig/running', 'v1', seed);
      if (key) await sign('sig/running', d2, key);
      const refused = await until(async () => {
        const cr = await getCr('running');
        const c = cond(cr, 'SignatureVerified');
        return c?.status === 'False' && c.message.includes(d2) ? cr : undefined;
      }, `the re-pushed tag (${seed}) refused`);
      expect(cond(refused, 'SignatureVerified')!.message).toContain(problem);
      expect(cond(refused, 'Ready')!.message).toContain(
        `EnvoyFilter ${envoyFilterName('running')} keeps the module ${d1}`,
      );
      expect(refused.status?.digest).toBe(d1);
      expect((await getEf('running'))!.metadata.annotations?.[DIGEST_ANNOTATION]).toBe(d1);
      const images = await imagesList();
      expect(images).toContain(d1);
      expect(images).not.toContain(d2);
      await until(
        async () =>
          (await events('running')).find(
            (e) => e.reason === 'SignatureVerificationFailed' && e.message.includes(d2),
          ),
        'a Warning Event naming the refused digest',
      );
    }

    const metrics = await (await fetch(`http://127.0.0.1:${controller!.port}/metrics`)).text();
    expect(metrics).toMatch(/meshwasm_controller_signature_verifications_total\{result="verified"\} [1-9]/);
    expect(metrics).toMatch(/meshwasm_controller_signature_verifications_total\{result="rejected"\} [1-9]/);
  });
});
