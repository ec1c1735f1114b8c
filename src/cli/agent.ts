import type { Command } from 'commander';
import { Option } from './commander.js';
import { parseDuration } from '../agent/duration.js';
import { MeshwasmError } from '../errors.js';
import { DEFAULT_FILTERS_DIR, IMAGES_CONFIGMAP_NAME, PULL_SECRET_NAME } from '../mesh/types.js';
import { runUntilSignal } from './signals.js';
import { addTransportOptions, maxModuleBytes, type TransportFlags } from './oci-options.js';

interface AgentFlags extends TransportFlags {
  dir: string;
  imagesFile?: string;
  kubeconfig?: string;
  namespace?: string;
  configMap: string;
  pullSecret: string;
  host: string;
  port: string;
  concurrency: string;
  gcGrace: string;
  jitter: string;
  retryBase: string;
  retryMax: string;
  resync: string;
  shutdownTimeout: string;
  verificationPolicy?: string;
}

export function register(program: Command): void {
  const command = program
    .command('agent')
    .description(
      'node agent: keep DIR equal to the wanted Wasm modules (in a cluster from the images ConfigMap and pull secret; outside from --images-file)',
    )
    .addOption(
      new Option('--dir <dir>', 'the module directory the sidecars mount').default(DEFAULT_FILTERS_DIR),
    )
    .option('--images-file <file>', 'outside a cluster: wanted references, one a line (re-read on change)')
    .option('--kubeconfig <file>', 'kubeconfig (default: in-cluster service account, else $KUBECONFIG)')
    .option(
      '--namespace <ns>',
      'namespace of the ConfigMap and the pull secret (default: $POD_NAMESPACE or istio-system)',
    )
    .addOption(new Option('--config-map <name>', 'the images ConfigMap').default(IMAGES_CONFIGMAP_NAME))
    .addOption(
      new Option('--pull-secret <name>', 'the dockerconfigjson pull secret').default(PULL_SECRET_NAME),
    )
    .addOption(new Option('--host <address>', 'address for /healthz, /readyz, /metrics').default('0.0.0.0'))
    .addOption(new Option('--port <port>', 'port for /healthz, /readyz, /metrics (0: any)').default('9090'))
    .addOption(new Option('--concurrency <n>', 'modules downloaded at once').default('4'))
    .addOption(
      new Option('--gc-grace <duration>', 'keep unwanted modules this long before removing them').default(
        '10m',
      ),
    )
    .addOption(
      new Option('--jitter <duration>', 'random delay, up to this, before the first pull').default('10s'),
    )
    .addOption(
      new Option('--retry-base <duration>', 'first retry delay of a failed pull (doubles)').default('1s'),
    )
    .addOption(new Option('--retry-max <duration>', 'longest retry delay of a failed pull').default('5m'))
    .addOption(
      new Option(
        '--resync <duration>',
        'check files against the index and resolve tags again this often (0: never)',
      ).default('5m'),
    )
    .option(
      '--verification-policy <file>',
      "verify each digest's signature (cosign keys, keyless identities) before writing its module; see docs/operations.md",
    )
    .addOption(
      new Option(
        '--shutdown-timeout <duration>',
        'on SIGTERM, wait this long for in-flight writes to be abandoned',
      ).default('10s'),
    );
  addTransportOptions(command);
  command.action(async (flags: AgentFlags) => {
    // Loaded here, as every verb loads what it needs when it runs (see program.ts).
    const [{ createLogger }, { startAgent }] = await Promise.all([
      import('../log.js'),
      import('../agent/run.js'),
    ]);
    const log = createLogger('meshwasm-agent');
    // Read (and checked) before anything starts: a broken policy is a start-up error, never "no policy".
    const verification = flags.verificationPolicy
      ? (await import('../sign/policy.js')).readPolicyFile(flags.verificationPolicy)
      : undefined;
    const running = await startAgent({
      verification,
      dir: flags.dir,
      imagesFile: flags.imagesFile,
      registryConfig: flags.registryConfig,
      kubeconfig: flags.kubeconfig,
      namespace: flags.namespace,
      configMap: flags.configMap,
      pullSecret: flags.pullSecret,
      plainHttp: flags.plainHttp,
      insecure: flags.insecure,
      caFile: flags.caFile,
      maxModuleBytes: maxModuleBytes(flags),
      host: flags.host,
      port: integer(flags.port, '--port', 0),
      concurrency: integer(flags.concurrency, '--concurrency', 1),
      gcGraceMs: parseDuration(flags.gcGrace, '--gc-grace'),
      jitterMs: parseDuration(flags.jitter, '--jitter'),
      retryBaseMs: parseDuration(flags.retryBase, '--retry-base'),
      retryMaxMs: parseDuration(flags.retryMax, '--retry-max'),
      resyncMs: parseDuration(flags.resync, '--resync'),
      log,
    });
    const timeoutMs = parseDuration(flags.shutdownTimeout, '--shutdown-timeout');
    // Temporary files of an abandoned write are swept at the next start.
    await runUntilSignal(log, () => running.stop(), { timeoutMs });
  });
}

function integer(text: string, flag: string, min: number): number {
  const n = Number(text);
  if (!Number.isInteger(n) || n < min)
    throw new MeshwasmError('USAGE', `${flag}: "${text}" is not an integer of at least ${min}`);
  return n;
}
