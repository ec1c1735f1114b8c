import type { Command } from 'commander';
import { PassThrough } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import {
  addOutputOption,
  addTransportOptions,
  emit,
  maxModuleBytes,
  withSession,
  type TransportFlags,
} from './oci-options.js';

interface InspectFlags extends TransportFlags {
  output: string;
  ociLayout?: boolean;
}

export function register(program: Command): void {
  const command = program
    .command('inspect')
    .description(
      'show what a Wasm image holds: digest, format, media types, module size and sha256, root ids, ABI versions',
    )
    .argument('<reference>', 'registry/repository[:tag|@digest], or with --oci-layout dir[:tag|@digest]')
    .option('--oci-layout', 'read from an OCI image-layout directory');
  addTransportOptions(command);
  addOutputOption(command);
  command.action(async (reference: string, flags: InspectFlags) => {
    const { openWasmModule, proxyAbi, resolveWasmImage, rootIdsOf } = await import('../oci/index.js');
    await withSession(flags, async (session) => {
      const { target, selector } = await session.open(reference, { ociLayout: flags.ociLayout });
      const image = await resolveWasmImage(target, selector);
      // The module's own size and sha256 need its bytes (compat layers are compressed): stream, verify, discard.
      const { stream, validator } = await openWasmModule(target, image, {
        maxModuleBytes: maxModuleBytes(flags),
      });
      await pipeline(stream, new PassThrough().resume());
      const module = validator.facts!;
      const abiFromModule = proxyAbi(module.exports);
      const info = {
        reference,
        digest: image.manifestDigest,
        mediaType: image.manifestMediaType,
        format: image.format,
        config: {
          mediaType: image.manifest.config.mediaType,
          digest: image.manifest.config.digest,
          size: image.manifest.config.size,
        },
        layers: image.manifest.layers.map((l) => ({
          mediaType: l.mediaType,
          digest: l.digest,
          size: l.size,
          title: l.annotations?.['org.opencontainers.image.title'],
        })),
        module: { size: module.size, sha256: module.digest, abi: abiFromModule },
        rootIds: rootIdsOf(image.runtimeConfig),
        abiVersions: image.runtimeConfig?.abiVersions ?? [],
        annotations: image.manifest.annotations ?? {},
      };
      emit(flags.output, info, () =>
        [
          `Reference:    ${reference}`,
          `Digest:       ${info.digest}`,
          `Format:       ${info.format} (${info.mediaType})`,
          `Config:       ${info.config.mediaType} ${info.config.digest} (${info.config.size} bytes)`,
          ...info.layers.map(
            (l, i) =>
              `Layer ${i}:      ${l.mediaType} ${l.digest} (${l.size} bytes)${l.title ? ` "${l.title}"` : ''}`,
          ),
          `Module:       ${module.size} bytes, ${module.digest}`,
          `Module ABI:   ${abiFromModule.join(', ') || 'no proxy_abi_version_* export'}`,
          `Root ids:     ${info.rootIds.join(', ') || '-'}`,
          `ABI versions: ${info.abiVersions.join(', ') || '-'}`,
        ].join('\n'),
      );
    });
  });
}
