/**
 * Assembles a running agent: the store (opened and verified first), the puller, the loop, the source of
 * the wanted set (the cluster's ConfigMap and Secret, or files), the reporter and the health server.
 */
import type { KubeConnection } from '../kube/config.js';
import { ModuleStore } from '../cache/index.js';
import { describeError, MeshwasmError } from '../errors.js';
import { createLogger, type Logger } from '../log.js';
import {
  DEFAULT_FILTERS_DIR,
  DEFAULT_NAMESPACE,
  IMAGES_CONFIGMAP_NAME,
  PULL_SECRET_NAME,
} from '../mesh/types.js';
import { Agent, type AgentSettings } from './agent.js';
import { startFileSource, type Source } from './file-source.js';
import { IdleCollector, withoutOptimizingCompilers } from '../memory.js';
import { BufferReclaimer } from './memory.js';
import { AgentMetrics } from './metrics.js';
import { Puller, type PullerOptions } from './puller.js';
import { nullReporter, type Reporter } from './reporter.js';
import { startHealthServer, type HealthServer } from './server.js';

export interface AgentOptions extends PullerOptions, Partial<AgentSettings> {
  dir?: string;
  /** outside a cluster: the wanted references, one a line */
  imagesFile?: string;
  /** outside a cluster: Docker config.json with credentials */
  registryConfig?: string;
  /** a kubeconfig file (default: in-cluster service account, else $KUBECONFIG / ~/.kube/config) */
  kubeconfig?: string;
  /** where the ConfigMap and the pull secret live */
  namespace?: string;
  configMap?: string;
  pullSecret?: string;
  /** the agent's own pod (downward API), for the annotation and Events */
  podName?: string;
  podNamespace?: string;
  host?: string;
  /** 0 picks a free port (tests); the chosen one is logged and returned */
  port?: number;
  pollMs?: number;
  log?: Logger;
  /**
   * Keep V8's optimizing compilers for this process. By default the agent turns them off as it starts:
   * they cost it ~7 MB of idle RSS for good and do not make a sync faster (../memory.ts).
   */
  optimizingCompilers?: boolean;
}

export interface RunningAgent {
  agent: Agent;
  store: ModuleStore;
  metrics: AgentMetrics;
  port: number;
  mode: 'cluster' | 'files';
  stop(): Promise<void>;
}

export async function startAgent(options: AgentOptions): Promise<RunningAgent> {
  if (!options.optimizingCompilers) withoutOptimizingCompilers();
  const log = options.log ?? createLogger('meshwasm-agent');
  const dir = options.dir ?? DEFAULT_FILTERS_DIR;
  const store = new ModuleStore(dir);
  const report = await store.open();
  log.info(
    {
      dir,
      verified: report.verified.length,
      removed: report.removed.length,
      partials: report.partials.length,
    },
    'module directory opened',
  );
  for (const r of report.removed)
    log.warn({ file: r.file, reason: r.reason }, 'module failed verification; removed');

  const mode = options.imagesFile ? 'files' : 'cluster';
  let kubeConfig: KubeConnection | undefined;
  let reporter: Reporter = nullReporter;
  // The Kubernetes side is loaded in cluster mode only: with --images-file the agent never needs it.
  const kube = mode === 'cluster' ? await loadKubeSide() : undefined;
  if (kube) {
    try {
      kubeConfig = kube.loadKubeConfig(options.kubeconfig);
    } catch (err) {
      throw new MeshwasmError('CONFIG', describeError(err).split('\n')[0] ?? 'cannot load the kubeconfig', {
        hint: 'run inside the cluster, pass --kubeconfig, or use --images-file FILE outside a cluster',
        cause: err,
      });
    }
    const podName = options.podName ?? process.env.POD_NAME;
    const podNamespace = options.podNamespace ?? process.env.POD_NAMESPACE;
    if (podName && podNamespace) {
      reporter = kube.createKubeReporter({
        kubeConfig,
        podName,
        podNamespace,
        log,
      });
    } else {
      log.warn('POD_NAME and POD_NAMESPACE are not set: no pod annotation and no Events will be written');
    }
  }

  if (options.verification) {
    const { describeSigners } = await import('../sign/policy.js');
    log.info(
      { policy: options.verification.source, signers: describeSigners(options.verification) },
      'signature verification on: modules are written only for digests a trusted signer signed',
    );
  }
  const metrics = new AgentMetrics({ processMetrics: true });
  const puller = new Puller(
    options,
    mode === 'files' ? { registryConfig: options.registryConfig } : { anonymous: true },
  );
  const idle = new IdleCollector();
  const agent = new Agent({
    store,
    puller,
    reporter,
    metrics,
    log,
    reclaimer: new BufferReclaimer(),
    idle,
    settings: settingsOf(options),
  });
  for (const r of report.removed)
    reporter.event({ type: 'Warning', reason: 'ModuleCorrupt', message: `${r.file} removed: ${r.reason}` });

  let server: HealthServer;
  try {
    server = await startHealthServer({
      host: options.host ?? '0.0.0.0',
      port: options.port ?? 9090,
      ready: () => agent.isReady(),
      status: () => agent.status(),
      registry: metrics.registry,
    });
  } catch (err) {
    throw new MeshwasmError(
      'USAGE',
      `cannot listen on port ${options.port ?? 9090}: ${(err as Error).message}`,
      {
        hint: 'choose another --port',
        cause: err,
      },
    );
  }
  log.info({ port: server.port, mode }, 'listening for /healthz, /readyz and /metrics');
  agent.start();

  let source: Source;
  try {
    if (mode === 'files') {
      source = await startFileSource({
        imagesFile: options.imagesFile as string,
        registryConfig: options.registryConfig,
        pollMs: options.pollMs,
        log,
        handlers: {
          wanted: (refs) => agent.setWanted(refs),
          credentialsChanged: () => agent.setCredentials({ registryConfig: options.registryConfig }),
        },
      });
    } else {
      const namespace = options.namespace ?? process.env.POD_NAMESPACE ?? DEFAULT_NAMESPACE;
      source = await kube!.startKubeSource({
        kubeConfig: kubeConfig as KubeConnection,
        namespace,
        configMap: options.configMap ?? IMAGES_CONFIGMAP_NAME,
        pullSecret: options.pullSecret ?? PULL_SECRET_NAME,
        log,
        handlers: {
          wanted: (refs) => agent.setWanted(refs),
          credentials: (dockerConfigJson) =>
            agent.setCredentials(dockerConfigJson === undefined ? { anonymous: true } : { dockerConfigJson }),
        },
      });
    }
  } catch (err) {
    await agent.stop();
    await server.close();
    throw err;
  }

  let stopping: Promise<void> | undefined;
  return {
    agent,
    store,
    metrics,
    port: server.port,
    mode,
    stop() {
      stopping ??= (async () => {
        await source
          .stop()
          .catch((err: unknown) => log.warn({ err: describeError(err) }, 'stopping the source'));
        await agent.stop();
        idle.stop();
        await puller.close();
        await reporter.close();
        await server.close();
        log.info('stopped');
      })();
      return stopping;
    },
  };
}

async function loadKubeSide() {
  const [{ loadKubeConfig }, { createKubeReporter }, { startKubeSource }] = await Promise.all([
    import('../kube/config.js'),
    import('./kube-reporter.js'),
    import('./kube-source.js'),
  ]);
  return { loadKubeConfig, createKubeReporter, startKubeSource };
}

function settingsOf(options: AgentOptions): Partial<AgentSettings> {
  const out: Partial<AgentSettings> = {};
  for (const key of [
    'concurrency',
    'gcGraceMs',
    'retryBaseMs',
    'retryMaxMs',
    'jitterMs',
    'resyncMs',
  ] as const) {
    const value = options[key];
    if (value !== undefined) out[key] = value;
  }
  return out;
}
