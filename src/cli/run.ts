import { Option, type Command } from 'commander';
import { readFile, stat } from 'node:fs/promises';
import { basename } from 'node:path';
import { MeshwasmError } from '../errors.js';
import { parseDuration } from '../agent/duration.js';
import type { LogLevelName } from '../runtime/index.js';
import type { FilterSpec } from '../sidecar/index.js';
import { addTransportOptions, maxModuleBytes, ociOptions, type TransportFlags } from './oci-options.js';

interface RunFlags extends TransportFlags {
  upstream: string;
  listen: string;
  filter: string[];
  rootId: string[];
  config: string[];
  failClosed?: boolean;
  cluster: string[];
  filterLogLevel: LogLevelName;
  filterTimeout: string;
  ociLayout?: boolean;
}

const collect = (value: string, previous: string[]): string[] => [...previous, value];

export function register(program: Command): void {
  const command = program
    .command('run')
    .description(
      'run Wasm filters locally: an HTTP reverse proxy that applies a proxy-wasm filter chain, as Envoy would',
    )
    .requiredOption('--upstream <url>', 'where requests go, e.g. http://127.0.0.1:9080')
    .option('--listen <host:port>', 'address to listen on', '127.0.0.1:8080')
    .option(
      '--filter <file|ref>',
      'a .wasm file or an OCI reference; repeat for a chain (applied in order)',
      collect,
      [],
    )
    .option(
      '--root-id <id>',
      'root id for the filter at the same position (one value applies to all)',
      collect,
      [],
    )
    .option('--config <json|@file>', 'plugin configuration for the filter at the same position', collect, [])
    .option('--fail-closed', 'answer 503 when a filter fails to load or traps (default: skip the filter)')
    .option(
      '--cluster <name=url>',
      'an upstream cluster filters may reach with proxy_http_call (repeatable)',
      collect,
      [],
    )
    .addOption(
      new Option('--filter-log-level <level>', 'lowest level of filter log lines to print')
        .choices(['trace', 'debug', 'info', 'warn', 'error', 'critical'])
        .default('info'),
    )
    .option(
      '--filter-timeout <duration>',
      'a filter callback still running after this kills the process, so that its supervisor restarts it (0: never)',
      '10s',
    )
    .option('--oci-layout', 'treat filter references as OCI image-layout directories');
  addTransportOptions(command);
  command.action(async (flags: RunFlags) => {
    const [host, port] = parseListen(flags.listen);
    for (const [flag, values] of [
      ['--root-id', flags.rootId],
      ['--config', flags.config],
    ] as const) {
      if (values.length > 1 && values.length !== flags.filter.length) {
        throw new MeshwasmError(
          'USAGE',
          `${flag} is given ${values.length} times for ${flags.filter.length} filters`,
          {
            hint: `give ${flag} once (it applies to every filter) or once per --filter, in the same order`,
          },
        );
      }
    }
    const filterTimeoutMs = parseDuration(flags.filterTimeout, '--filter-timeout');
    const filters: FilterSpec[] = [];
    for (const [i, ref] of flags.filter.entries()) filters.push(await filterSpec(ref, i, flags));
    const [{ Watchdog }, { startSidecar }, { createLogger }] = await Promise.all([
      import('../runtime/watchdog.js'),
      import('../sidecar/index.js'),
      import('../log.js'),
    ]);
    // Started before the filters load: their start-up callbacks are guest calls too.
    const watchdog =
      filterTimeoutMs > 0 ? Watchdog.start({ timeoutMs: filterTimeoutMs, name: 'meshwasm-run' }) : undefined;
    const sidecar = await startSidecar({
      upstream: flags.upstream,
      host,
      port,
      filters,
      clusters: parseClusters(flags.cluster),
      filterLogLevel: flags.filterLogLevel,
      logger: createLogger('meshwasm-run'),
    });
    process.stderr.write(`meshwasm run: listening on ${sidecar.url}, forwarding to ${flags.upstream}\n`);
    await new Promise<void>((resolve) => {
      const stop = (): void => {
        process.off('SIGTERM', stop);
        process.off('SIGINT', stop);
        void sidecar
          .close()
          .then(() => watchdog?.stop())
          .then(resolve);
      };
      process.on('SIGTERM', stop);
      process.on('SIGINT', stop);
    });
  });
}

function parseListen(listen: string): [string, number] {
  const m = /^(?:\[([^\]]+)\]|([^:]*)):(\d{1,5})$/.exec(listen);
  const port = Number(m?.[3]);
  if (!m || port > 65535) {
    throw new MeshwasmError('USAGE', `--listen "${listen}" is not HOST:PORT`, {
      hint: 'e.g. --listen 127.0.0.1:8080',
    });
  }
  return [m[1] ?? (m[2] || '127.0.0.1'), port];
}

function parseClusters(values: string[]): Record<string, string> {
  const clusters: Record<string, string> = {};
  for (const v of values) {
    const eq = v.indexOf('=');
    if (eq <= 0) {
      throw new MeshwasmError('USAGE', `--cluster "${v}" is not NAME=URL`, {
        hint: 'e.g. --cluster auth=http://127.0.0.1:9000',
      });
    }
    clusters[v.slice(0, eq)] = v.slice(eq + 1);
  }
  return clusters;
}

/** The i-th value of a repeatable flag; a single value applies to every filter. */
function positional(values: string[], i: number): string | undefined {
  return values.length === 1 ? values[0] : values[i];
}

async function configuration(value: string | undefined): Promise<string | undefined> {
  if (value === undefined || !value.startsWith('@')) return value;
  const file = value.slice(1);
  try {
    return await readFile(file, 'utf8');
  } catch (err) {
    throw new MeshwasmError('USAGE', `--config ${value}: cannot read ${file}: ${(err as Error).message}`, {
      hint: 'give the JSON inline or @path-to-an-existing-file',
    });
  }
}

async function isFile(path: string): Promise<boolean> {
  try {
    return (await stat(path)).isFile();
  } catch {
    return false;
  }
}

/** An existing file is loaded from disk; anything else is an OCI reference pulled (and verified) now. */
async function filterSpec(ref: string, i: number, flags: RunFlags): Promise<FilterSpec> {
  const spec: FilterSpec = {
    name: ref,
    failOpen: !flags.failClosed,
    rootId: positional(flags.rootId, i),
    configuration: await configuration(positional(flags.config, i)),
  };
  if (await isFile(ref)) {
    spec.file = ref;
    spec.name = basename(ref).replace(/\.wasm$/, '');
    return spec;
  }
  const { pullWasmModule } = await import('../oci/index.js');
  const pulled = await pullWasmModule(ref, {
    ...ociOptions(flags),
    ociLayout: flags.ociLayout,
    maxModuleBytes: maxModuleBytes(flags),
  });
  process.stderr.write(`meshwasm run: pulled ${ref} (${pulled.format}, ${pulled.manifestDigest})\n`);
  spec.module = pulled.module;
  return spec;
}
