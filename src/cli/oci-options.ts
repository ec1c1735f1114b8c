import type { Command } from 'commander';
import { Option } from './commander.js';
import { MeshwasmError } from '../errors.js';
import type { OciOptions, OciSession } from '../oci/session.js';

/**
 * The library's DEFAULT_MAX_MODULE_BYTES as the flag spells it (a test checks they agree); written out
 * so that defining the options does not load the module validator (node:crypto, streams).
 */
export const DEFAULT_MAX_MODULE_SIZE = '256MiB';

/** Flags every command that talks to a registry shares (the same names ORAS uses). */
export interface TransportFlags {
  plainHttp?: boolean;
  insecure?: boolean;
  caFile?: string;
  registryConfig?: string;
  maxModuleSize?: string;
}

export function addTransportOptions(command: Command): Command {
  return command
    .option('--plain-http', 'talk to the registry over plain HTTP instead of HTTPS')
    .option('--insecure', 'skip TLS certificate verification (not recommended)')
    .option(
      '--ca-file <file>',
      'trust this PEM CA bundle for registry certificates, in addition to the default CAs',
    )
    .option(
      '--registry-config <file>',
      'Docker config.json with credentials (default: $DOCKER_CONFIG/config.json or ~/.docker/config.json)',
    )
    .addOption(
      new Option(
        '--max-module-size <size>',
        'refuse modules larger than this (bytes, or with KiB/MiB/GiB)',
      ).default(DEFAULT_MAX_MODULE_SIZE),
    );
}

export function addOutputOption(command: Command): Command {
  return command.addOption(
    new Option('--output <format>', 'output format (json for scripts)')
      .choices(['text', 'json'])
      .default('text'),
  );
}

export function ociOptions(flags: TransportFlags): OciOptions {
  return {
    plainHttp: flags.plainHttp,
    insecure: flags.insecure,
    caFile: flags.caFile,
    registryConfig: flags.registryConfig,
    warn: (message) => process.stderr.write(`Warning: ${message}\n`),
  };
}

/**
 * Runs `run` with a session built from the transport flags, closing it however `run` ends. The OCI
 * client (and its HTTP stack) is loaded here, not when the command tree is built, so `--help`,
 * `--version` and the verbs that never talk to a registry do not pay for it.
 */
export async function withSession<T>(
  flags: TransportFlags,
  run: (session: OciSession) => Promise<T>,
  overrides: Partial<OciOptions> = {},
): Promise<T> {
  const { OciSession } = await import('../oci/session.js');
  const session = new OciSession({ ...ociOptions(flags), ...overrides });
  try {
    return await run(session);
  } finally {
    await session.close();
  }
}

export function maxModuleBytes(flags: TransportFlags): number {
  return parseSize(flags.maxModuleSize || DEFAULT_MAX_MODULE_SIZE, '--max-module-size');
}

export function parseSize(text: string, flag: string): number {
  const match = /^(\d+(?:\.\d+)?)\s*(B|KiB|MiB|GiB|KB|MB|GB|K|M|G)?$/i.exec(text.trim());
  if (!match)
    throw new MeshwasmError('USAGE', `${flag}: "${text}" is not a size`, {
      hint: 'write a number of bytes, or e.g. 512KiB, 64MiB, 1GiB',
    });
  const units: Record<string, number> = {
    b: 1,
    k: 1024,
    kb: 1024,
    kib: 1024,
    m: 1024 ** 2,
    mb: 1024 ** 2,
    mib: 1024 ** 2,
    g: 1024 ** 3,
    gb: 1024 ** 3,
    gib: 1024 ** 3,
  };
  return Math.floor(Number(match[1]) * (units[(match[2] ?? 'b').toLowerCase()] ?? 1));
}

/** Prints a result: the object as JSON with --output json, else the text lines. */
export function emit(output: string | undefined, value: unknown, text: () => string): void {
  process.stdout.write(output === 'json' ? `${JSON.stringify(value, null, 2)}\n` : `${text()}\n`);
}
