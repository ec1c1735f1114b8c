import type { Command } from 'commander';
import { Option } from './commander.js';
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
  file: string[];
  filtersDir?: string;
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
      '-f, --file <yaml>',
      "the mesh's own configuration: EnvoyFilters and/or Istio WasmPlugins (repeatable; their filters come first)",
      collect,
      [],
    )
    .option(
      '--filters-dir <dir>',
      "with -f: look module files up here by file name (stands in for the node's /var/local/lib/wasm-filters)",
    )
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
    if (flags.filtersDir !== undefined && flags.file.length === 0) {
      throw new MeshwasmError('USAGE', '--filters-dir is only used with -f', {
        hint: 'give -f envoyfilter.yaml (or a WasmPlugin) whose module files are in that directory',
      });
    }
    const filters: FilterSpec[] = [];
    for (const file of flags.file) filters.push(...(await meshFilters(file, flags)));
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

/** The filters of an EnvoyFilter / WasmPlugin file: local files must exist, OCI references are pulled now. */
async function meshFilters(file: string, flags: RunFlags): Promise<FilterSpec[]> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    throw new MeshwasmError('USAGE', `-f ${file}: cannot read it: ${(err as Error).message}`, {
      hint: 'give the path of an EnvoyFilter or WasmPlugin YAML file',
    });
  }
  const { parseMeshConfig } = await import('../sidecar/mesh-config.js');
  const specs: FilterSpec[] = [];
  for (const { reference, ...spec } of parseMeshConfig(text, file, {
    filtersDir: flags.filtersDir,
    hostEnv: process.env,
  })) {
    if (reference !== undefined) {
      spec.module = await pull(reference, flags);
    } else if (spec.file !== undefined && !(await isFile(spec.file))) {
      // Envoy rejects a configuration whose local module file is missing; so does this.
      throw new MeshwasmError(
        'USAGE',
        `-f ${file}: filter "${spec.name}": module file ${spec.file} does not exist`,
        {
          hint:
            flags.filtersDir === undefined
              ? 'give --filters-dir DIR, the directory that holds the module files (the node agent names them <digest>.wasm)'
              : `put the module in ${flags.filtersDir} under that name (meshwasm pull REF -o ${spec.file})`,
        },
      );
    }
    specs.push(spec);
  }
  return specs;
}

async function pull(ref: string, flags: RunFlags): Promise<Uint8Array> {
  const { pullWasmModule } = await import('../oci/index.js');
  const pulled = await pullWasmModule(ref, {
    ...ociOptions(flags),
    ociLayout: flags.ociLayout,
    maxModuleBytes: maxModuleBytes(flags),
  });
  process.stderr.write(`meshwasm run: pulled ${ref} (${pulled.format}, ${pulled.manifestDigest})\n`);
  return pulled.module;
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
  spec.module = await pull(ref, flags);
  return spec;
}
