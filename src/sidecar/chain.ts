/**
 * Loads the filter chain. A filter that cannot be loaded does not stop the sidecar: it is kept with its
 * error so the per-request policy applies (fail-open: skipped, fail-closed: 503), and the error is
 * logged once here with the filter's name.
 */
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import type { Level, Logger } from '../log.js';
import { describeError, MeshwasmError } from '../errors.js';
import { FilterPlugin, SharedState, type LogLevelName } from '../runtime/index.js';
import { SidecarIO } from './io.js';
import type { FilterSpec } from './spec.js';

export interface LoadedFilter {
  name: string;
  failOpen: boolean;
  plugin: FilterPlugin | undefined;
  /** Why the filter is not running (load failure), if it is not. */
  error: MeshwasmError | undefined;
}

export interface ChainOptions {
  clusters: ReadonlyMap<string, URL>;
  logger: Logger;
  /** Lowest level of filter log lines forwarded to the sidecar's log. */
  filterLogLevel: LogLevelName;
  shared?: SharedState;
}

/** proxy-wasm's log levels as the sidecar log's (critical is fatal). */
const LOG_LEVEL: Record<LogLevelName, Level> = {
  trace: 'trace',
  debug: 'debug',
  info: 'info',
  warn: 'warn',
  error: 'error',
  critical: 'fatal',
};

async function moduleBytes(spec: FilterSpec): Promise<Uint8Array> {
  const bytes = await readModule(spec);
  if (spec.sha256 !== undefined) {
    const actual = createHash('sha256').update(bytes).digest('hex');
    if (actual !== spec.sha256) {
      throw new MeshwasmError(
        'DIGEST_MISMATCH',
        `filter "${spec.name}": the module's sha256 is ${actual}, not the pinned ${spec.sha256}`,
        { hint: 'update the sha256 to the module you mean to run, or point at the module it pins' },
      );
    }
  }
  return bytes;
}

async function readModule(spec: FilterSpec): Promise<Uint8Array> {
  if (spec.module) return spec.module;
  if (!spec.file) {
    throw new MeshwasmError(
      'USAGE',
      `filter "${spec.name}": neither a module file nor module bytes were given`,
    );
  }
  try {
    return new Uint8Array(await readFile(spec.file));
  } catch (err) {
    throw new MeshwasmError(
      'IO',
      `filter "${spec.name}": cannot read ${spec.file}: ${(err as Error).message}`,
      {
        hint: 'check the path of the .wasm file',
        cause: err,
      },
    );
  }
}

export async function loadChain(
  specs: readonly FilterSpec[],
  options: ChainOptions,
): Promise<LoadedFilter[]> {
  const shared = options.shared ?? new SharedState();
  const loaded: LoadedFilter[] = [];
  for (const spec of specs) {
    const failOpen = spec.failOpen ?? true;
    const log = options.logger.child({ filter: spec.name });
    try {
      const plugin = await FilterPlugin.load(await moduleBytes(spec), {
        name: spec.name,
        rootId: spec.rootId ?? '',
        vmId: spec.vmId ?? '',
        configuration: spec.configuration,
        vmConfiguration: spec.vmConfiguration,
        env: spec.env,
        io: () => new SidecarIO(options.clusters),
        logLevel: options.filterLogLevel,
        shared,
        log: (level, message) => log[LOG_LEVEL[level]]({ source: 'wasm' }, message),
      });
      log.info({ abi: plugin.abi, rootId: spec.rootId ?? '', failOpen }, 'filter loaded');
      loaded.push({ name: spec.name, failOpen, plugin, error: undefined });
    } catch (err) {
      const error =
        err instanceof MeshwasmError
          ? err
          : new MeshwasmError('RUNTIME', `filter "${spec.name}": ${describeError(err)}`);
      log.error(
        { err: error.message, hint: error.hint, policy: failOpen ? 'fail-open' : 'fail-closed' },
        failOpen
          ? 'filter failed to load; requests will bypass it'
          : 'filter failed to load; requests will get 503',
      );
      loaded.push({ name: spec.name, failOpen, plugin: undefined, error });
    }
  }
  return loaded;
}
