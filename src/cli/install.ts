/**
 * `meshwasm install`: the seed's `UpdateMeshFeature --WebAssemblyFilterEnabled=true`. Applies the CRD,
 * service accounts, RBAC, the images ConfigMap, the controller Deployment and the agent DaemonSet
 * (src/mesh/install, the same objects as deploy/); `--dry-run` prints them without touching a cluster.
 */
import { Option, type Command } from 'commander';
import {
  DEFAULT_FILTERS_DIR,
  DEFAULT_IMAGE,
  DEFAULT_NAMESPACE,
  IMAGES_CONFIGMAP_NAME,
  type KubeObject,
} from '../mesh/types.js';
import type { KubeFlags } from '../kube/object-applier.js';
import { addKubeOptions, withApplier } from './kube-options.js';

interface InstallFlags extends KubeFlags {
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
    .addOption(
      new Option('-o, --output <format>', 'output format').choices(['text', 'yaml', 'json']).default('text'),
    );
  addKubeOptions(command);
  command.action(async (flags: InstallFlags) => {
    const { installManifests } = await import('../mesh/install/index.js');
    const objects = installManifests({
      namespace: flags.namespace,
      image: flags.image,
      filtersDir: flags.dir,
    });
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
      // The namespace is created if missing but never deleted by uninstall: Istio usually owns it.
      const ns = namespaceObject(flags.namespace);
      if ((await applier.read(ns)) === undefined) report(ns, await applier.apply(ns));
      for (const object of objects) {
        // The images ConfigMap's content is the controller's once it runs: create it, never reset it.
        const keepExisting = object.kind === 'ConfigMap' && object.metadata.name === IMAGES_CONFIGMAP_NAME;
        report(object, await applier.apply(object, { keepExisting }));
      }
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
