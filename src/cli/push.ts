import type { Command } from 'commander';
import { Option } from './commander.js';
import { MeshwasmError } from '../errors.js';
import {
  addOutputOption,
  addTransportOptions,
  emit,
  maxModuleBytes,
  withSession,
  type TransportFlags,
} from './oci-options.js';

interface PushFlags extends TransportFlags {
  config?: string;
  rootId: string[];
  format: 'artifact' | 'compat';
  annotation: string[];
  ociLayout?: boolean;
  output: string;
}

export function register(program: Command): void {
  const command = program
    .command('push')
    .description(
      "push a compiled proxy-wasm filter to an OCI registry (by default in the seed's `oras push` artifact format)",
    )
    .argument('<reference>', 'registry/repository:tag, or with --oci-layout dir[:tag]')
    .argument('<module>', 'the compiled filter (.wasm)')
    .option(
      '--config <file>',
      'runtime-config.json to push as the config blob (default: generated from --root-id)',
    )
    .option(
      '--root-id <id>',
      'root id the filter registers (repeatable; used when --config is not given)',
      collect,
      [],
    )
    .addOption(
      new Option(
        '--format <format>',
        'artifact: Wasm config + layer media types; compat: OCI image with plugin.wasm',
      )
        .choices(['artifact', 'compat'])
        .default('artifact'),
    )
    .option('-a, --annotation <key=value>', 'manifest annotation (repeatable)', collect, [])
    .option('--oci-layout', 'push to an OCI image-layout directory instead of a registry');
  addTransportOptions(command);
  addOutputOption(command);
  command.action(async (reference: string, module: string, flags: PushFlags) => {
    const annotations: Record<string, string> = {};
    for (const a of flags.annotation) {
      const eq = a.indexOf('=');
      if (eq <= 0) throw new MeshwasmError('USAGE', `--annotation "${a}" must be key=value`);
      annotations[a.slice(0, eq)] = a.slice(eq + 1);
    }
    const [{ pushWasm }, { progressBar }] = await Promise.all([
      import('../oci/wasm-image.js'),
      import('./progress.js'),
    ]);
    const progress = await progressBar('Uploading', flags.output !== 'json');
    try {
      await withSession(flags, async (session) => {
        const { target, selector } = await session.open(reference, { ociLayout: flags.ociLayout });
        const result = await pushWasm(target, selector, module, {
          configFile: flags.config,
          rootIds: flags.rootId,
          format: flags.format,
          annotations,
          maxModuleBytes: maxModuleBytes(flags),
          onProgress: progress.onProgress,
        });
        progress.stop();
        emit(
          flags.output,
          {
            reference,
            digest: result.descriptor.digest,
            format: result.format,
            module: result.module,
            runtimeConfig: result.runtimeConfig,
          },
          () =>
            [
              `Pushed ${reference}`,
              `Digest: ${result.descriptor.digest}`,
              `Format: ${result.format}`,
              `Module: ${result.module.size} bytes, ${result.module.digest}`,
            ].join('\n'),
        );
      });
    } finally {
      progress.stop();
    }
  });
}

export function collect(value: string, previous: string[]): string[] {
  return [...previous, value];
}
