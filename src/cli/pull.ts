import type { Command } from 'commander';
import { basename } from 'node:path';
import {
  addOutputOption,
  addTransportOptions,
  emit,
  maxModuleBytes,
  withSession,
  type TransportFlags,
} from './oci-options.js';

interface PullFlags extends TransportFlags {
  output: string;
  file?: string;
  ociLayout?: boolean;
}

export function register(program: Command): void {
  const command = program
    .command('pull')
    .description('pull a Wasm filter in any of the four formats meshes use, verify it, and write the module')
    .argument('<reference>', 'registry/repository[:tag|@digest], or with --oci-layout dir[:tag|@digest]')
    .option('-o, --file <file>', 'where to write the module (default: <repository name>.wasm)')
    .option('--oci-layout', 'pull from an OCI image-layout directory');
  addTransportOptions(command);
  addOutputOption(command);
  command.action(async (reference: string, flags: PullFlags) => {
    // What the verb needs is loaded when it runs, not when the command tree is built (see program.ts).
    const [{ pullWasmToFile }, { progressBar }] = await Promise.all([
      import('../oci/wasm-image.js'),
      import('./progress.js'),
    ]);
    const progress = await progressBar('Downloading', flags.output !== 'json');
    try {
      await withSession(flags, async (session) => {
        const { target, selector } = await session.open(reference, { ociLayout: flags.ociLayout });
        const file = flags.file ?? (await defaultFileName(reference, flags.ociLayout));
        const pulled = await pullWasmToFile(target, selector, file, {
          maxModuleBytes: maxModuleBytes(flags),
          onProgress: progress.onProgress,
        });
        progress.stop();
        emit(
          flags.output,
          {
            reference,
            file,
            digest: pulled.manifestDigest,
            format: pulled.format,
            module: pulled.module,
            runtimeConfig: pulled.runtimeConfig,
          },
          () =>
            [
              `Pulled ${reference} (${pulled.format})`,
              `Digest: ${pulled.manifestDigest}`,
              `Module: ${file}, ${pulled.module.size} bytes, ${pulled.module.digest}`,
            ].join('\n'),
        );
      });
    } finally {
      progress.stop();
    }
  });
}

async function defaultFileName(reference: string, layout?: boolean): Promise<string> {
  if (layout) return `${basename(reference.replace(/[:@].*$/, '')) || 'module'}.wasm`;
  const { parseReference } = await import('../oci/reference.js'); // loaded by the session already
  const repo = parseReference(reference).repository;
  return `${repo.slice(repo.lastIndexOf('/') + 1)}.wasm`;
}
