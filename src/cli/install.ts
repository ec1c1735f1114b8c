/**
 * `meshwasm install`: the seed's `UpdateMeshFeature --WebAssemblyFilterEnabled=true`. Applies the CRD,
 * service accounts, RBAC, the images ConfigMap, the controller Deployment and the agent DaemonSet
 * (src/mesh/install, the same objects as deploy/); `--dry-run` prints them without touching a cluster.
 */
import type { Command } from 'commander';
import { Option } from './commander.js';
import {
  DEFAULT_FILTERS_DIR,
  DEFAULT_IMAGE,
  DEFAULT_NAMESPACE,
  IMAGES_CONFIGMAP_NAME,
  type KubeObject,
} from '../mesh/types.js';
import type { KubeFlags } from '../kube/object-applier.js';
import { addKubeOptions, withApplier } from './kube-options.js';
import type { PolicyFlags } from './install-policy.js';

interface InstallFlags extends KubeFlags, PolicyFlags {
  dryRun?: boolean;
  namespace: string;
  image: string;
  dir: string;
  output: 'text' | 'yaml' | 'json';
}

function namespaceObject(name: string): KubeObject {
  return { apiVersion: 'v1', kind: 'Namespace', metadata: { name } };
}

export function register(program: Command): void {
  const command = program
    .command('install')
    .description(
      'enable Wasm filters in the cluster: CRD, RBAC, controller and node agent (--dry-run prints them)',
    )
    .option('--dry-run', 'print the objects instead of applying them')
    .option(
      '-n, --namespace <namespace>',
      'namespace for the controller, agent, ConfigMap and pull secret',
      DEFAULT_NAMESPACE,
    )
    .option('--image <image>', 'the meshwasm image the controller and agent run', DEFAULT_IMAGE)
    .option('--dir <dir>', 'node directory the agent keeps modules in', DEFAULT_FILTERS_DIR)
    .option(
      '--verification-policy <file>',
      'verify signatures in the controller and every agent with this policy (stored with the files it names in the ConfigMap meshwasm-verification-policy, mounted into both); see docs/operations.md',
    )
    .option(
      '--verification-policy-from <object>',
      'mount an existing configmap/NAME or secret/NAME (key policy.yaml and the files it names) as the verification policy instead',
    )
    .option(
      '--no-verification-policy',
      'install without signature verification (without any policy flag, install keeps the policy installed before)',
    )
    .addOption(
      new Option('-o, --output <format>', 'output format').choices(['text', 'yaml', 'json']).default('text'),
    );
  addKubeOptions(command);
  command.action(async (flags: InstallFlags) => {
    const [{ installManifests }, policies] = await Promise.all([
      import('../mesh/install/index.js'),
      import('./install-policy.js'),
    ]);
    const manifests = (verificationPolicy: Awaited<ReturnType<typeof policies.policyFromFlags>>) =>
      installManifests({
        namespace: flags.namespace,
        image: flags.image,
        filtersDir: flags.dir,
        verificationPolicy,
      });
    let objects = manifests(await policies.policyFromFlags(flags));
    // The YAML writer is loaded only by the outputs that print YAML.
    const yamlDocuments = async () => (await import('../mesh/yaml.js')).toYamlDocuments(objects);
    if (flags.dryRun) {
      process.stdout.write(
        flags.output === 'json'
          ? `${JSON.stringify({ apiVersion: 'v1', kind: 'List', items: objects }, null, 2)}\n`
          : await yamlDocuments(),
      );
      return;
    }
    const results = await withApplier(flags, async (applier, report) => {
      // Read and checked before anything is applied: a broken policy installs nothing.
      const policy = await policies.resolvePolicy(applier, flags.namespace, flags, (note) =>
        process.stderr.write(`${note}\n`),
      );
      objects = manifests(policy);
      // The namespace is created if missing but never deleted by uninstall: Istio usually owns it.
      const ns = namespaceObject(flags.namespace);
      if ((await applier.read(ns)) === undefined) report(ns, await applier.apply(ns));
      for (const object of objects) {
        // The images ConfigMap's content is the controller's once it runs: create it, never reset it.
        const keepExisting = object.kind === 'ConfigMap' && object.metadata.name === IMAGES_CONFIGMAP_NAME;
        report(object, await applier.apply(object, { keepExisting }));
      }
      // A policy ConfigMap install made before and no longer mounted goes once the workloads moved on.
      const stale = await policies.staleManagedPolicy(applier, flags.namespace, policy);
      if (stale) report(stale, await applier.delete(stale));
    });
    if (flags.output === 'json')
      process.stdout.write(`${JSON.stringify({ namespace: flags.namespace, results }, null, 2)}\n`);
    else if (flags.output === 'text') {
      process.stdout.write(
        `meshwasm is installed in ${flags.namespace}. Create the pull secret ${flags.namespace}/asmwasm-cache if your registry needs credentials, then apply ASMFilterDeployments.\n`,
      );
    } else process.stdout.write(await yamlDocuments());
  });
}
