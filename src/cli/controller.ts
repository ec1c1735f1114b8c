import { runUntilSignal } from './signals.js';
import type { Command } from 'commander';
import { Option } from './commander.js';
import { parseDuration } from '../agent/duration.js';
import { MeshwasmError } from '../errors.js';
import {
  CONTROLLER_NAME,
  DEFAULT_MESH_CONFIG,
  DEFAULT_NAMESPACE,
  MESH_CONFIG_KINDS,
  type MeshConfigKind,
} from '../mesh/types.js';

interface ControllerFlags {
  verificationPolicy?: string;
  kubeconfig?: string;
  namespace?: string;
  identity?: string;
  host: string;
  port: string;
  workers: string;
  tagRefresh: string;
  distributionTimeout: string;
  resync: string;
  leaseDuration: string;
  renewDeadline: string;
  retryPeriod: string;
  plainHttp?: boolean;
  insecure?: boolean;
  caFile?: string;
  meshConfig: MeshConfigKind;
  nodeGate: boolean;
}

export function register(program: Command): void {
  program
    .command('controller')
    .description(
      'run the ASMFilterDeployment controller: resolve images, feed the node agents, apply EnvoyFilters once every node has the module, patch workloads',
    )
    .option(
      '--kubeconfig <file>',
      'kubeconfig (default: $KUBECONFIG, ~/.kube/config, else the in-cluster service account)',
    )
    .option(
      '--namespace <ns>',
      `namespace of the pull secret, images ConfigMap, agents and leader Lease (default: $POD_NAMESPACE or ${DEFAULT_NAMESPACE})`,
    )
    .option('--identity <name>', 'leader election identity (default: $POD_NAME)')
    .addOption(new Option('--host <address>', 'address for /healthz, /readyz, /metrics').default('0.0.0.0'))
    .addOption(new Option('--port <port>', 'port for /healthz, /readyz, /metrics (0: any)').default('9090'))
    .addOption(new Option('--workers <n>', 'reconciles in parallel').default('4'))
    .addOption(
      new Option(
        '--tag-refresh <duration>',
        're-resolve tags of imagePullPolicy Always filters this often',
      ).default('5m'),
    )
    .addOption(
      new Option(
        '--distribution-timeout <duration>',
        'after this, a module the agents do not report becomes a DistributionTimeout condition',
      ).default('5m'),
    )
    .addOption(new Option('--resync <duration>', 'full re-reconcile period').default('10m'))
    .addOption(new Option('--lease-duration <duration>', 'leader lease duration').default('15s'))
    .addOption(
      new Option('--renew-deadline <duration>', 'a leader that cannot renew within this steps down').default(
        '10s',
      ),
    )
    .addOption(new Option('--retry-period <duration>', 'leader election retry period').default('2s'))
    .addOption(
      new Option(
        '--mesh-config <kind>',
        'what a CR without spec.meshConfig gets: an EnvoyFilter, or an Istio WasmPlugin (extensions.istio.io/v1alpha1)',
      )
        .choices([...MESH_CONFIG_KINDS])
        .default(DEFAULT_MESH_CONFIG),
    )
    .option(
      '--no-node-gate',
      "do not label nodes that hold a filter's module nor require that label in the filtered workloads' node affinity (pods may then start on a node before its agent has the module)",
    )
    .option(
      '--verification-policy <file>',
      'distribute and render only digests a trusted key or keyless identity signed; see docs/operations.md',
    )
    .option('--plain-http', 'talk to registries over plain HTTP instead of HTTPS')
    .option('--insecure', 'skip TLS certificate verification of registries (not recommended)')
    .option(
      '--ca-file <file>',
      'trust this PEM CA bundle for registry certificates, in addition to the default CAs',
    )
    .action(async (flags: ControllerFlags) => {
      const port = Number(flags.port);
      const workers = Number(flags.workers);
      if (!Number.isInteger(port) || port < 0 || port > 65535)
        throw new MeshwasmError('USAGE', `--port: "${flags.port}" is not a port number`);
      if (!Number.isInteger(workers) || workers < 1)
        throw new MeshwasmError('USAGE', `--workers: "${flags.workers}" is not an integer of at least 1`);
      // Loaded here: the controller brings the Kubernetes client, which the other commands never need.
      const [{ createLogger }, { startController }] = await Promise.all([
        import('../log.js'),
        import('../controller/index.js'),
      ]);
      const log = createLogger(CONTROLLER_NAME);
      // Read and checked before anything starts: a broken policy stops the controller, never disables it.
      const verification = flags.verificationPolicy
        ? (await import('../sign/policy.js')).readPolicyFile(flags.verificationPolicy)
        : undefined;
      const running = await startController({
        verification,
        kubeconfig: flags.kubeconfig,
        namespace: flags.namespace ?? process.env.POD_NAMESPACE ?? DEFAULT_NAMESPACE,
        identity: flags.identity,
        host: flags.host,
        port,
        workers,
        transport: { plainHttp: flags.plainHttp, insecure: flags.insecure, caFile: flags.caFile },
        tagRefreshMs: parseDuration(flags.tagRefresh, '--tag-refresh'),
        distributionTimeoutMs: parseDuration(flags.distributionTimeout, '--distribution-timeout'),
        resyncMs: parseDuration(flags.resync, '--resync'),
        leaseDurationMs: parseDuration(flags.leaseDuration, '--lease-duration'),
        renewDeadlineMs: parseDuration(flags.renewDeadline, '--renew-deadline'),
        retryPeriodMs: parseDuration(flags.retryPeriod, '--retry-period'),
        meshConfig: flags.meshConfig,
        nodeGate: flags.nodeGate,
        logger: log,
      });
      await runUntilSignal(log, () => running.stop());
    });
}
