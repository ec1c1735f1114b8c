import type { Command } from 'commander';
import {
  addOutputOption,
  addTransportOptions,
  emit,
  withSession,
  type TransportFlags,
} from './oci-options.js';

interface CopyFlags extends TransportFlags {
  output: string;
  fromOciLayout?: boolean;
  toOciLayout?: boolean;
  fromPlainHttp?: boolean;
  toPlainHttp?: boolean;
  concurrency: string;
}

export function register(program: Command): void {
  const command = program
    .command('copy')
    .alias('cp')
    .description(
      'copy an image with all its blobs between registries and OCI layouts (existing blobs skipped, same-registry blobs mounted)',
    )
    .argument('<source>', 'registry/repository[:tag|@digest], or with --from-oci-layout dir[:tag|@digest]')
    .argument('<destination>', 'registry/repository[:tag], or with --to-oci-layout dir[:tag]')
    .option('--from-oci-layout', 'the source is an OCI image-layout directory')
    .option('--to-oci-layout', 'the destination is an OCI image-layout directory')
    .option('--from-plain-http', "plain HTTP to the source's registry only (--plain-http: to both)")
    .option('--to-plain-http', "plain HTTP to the destination's registry only")
    .option('--concurrency <n>', 'blobs transferred at once', '3');
  addTransportOptions(command);
  addOutputOption(command);
  command.action(async (source: string, destination: string, flags: CopyFlags) => {
    const [{ copy }, { parseReference }] = await Promise.all([
      import('../oci/copy.js'),
      import('../oci/reference.js'),
    ]);
    // As `oras copy`: each side may be a plain-HTTP registry on its own (a local mirror, say).
    const plain: string[] = [];
    if (flags.fromPlainHttp && !flags.fromOciLayout) plain.push(parseReference(source).registry);
    if (flags.toPlainHttp && !flags.toOciLayout) plain.push(parseReference(destination).registry);
    const overrides = !flags.plainHttp && plain.length > 0 ? { plainHttp: plain } : {};
    await withSession(
      flags,
      async (session) => {
        const src = await session.open(source, { ociLayout: flags.fromOciLayout });
        const dst = await session.open(destination, { ociLayout: flags.toOciLayout });
        // A destination without a tag keeps the source's tag, as `oras copy` does.
        const dstSelector =
          dst.reference && !dst.reference.tag && !dst.reference.digest ? src.selector : dst.selector;
        const result = await copy(src.target, src.selector, dst.target, dstSelector, {
          concurrency: Math.max(1, Number(flags.concurrency) || 3),
        });
        emit(
          flags.output,
          {
            source,
            destination,
            digest: result.descriptor.digest,
            copied: result.copied,
            skipped: result.skipped,
            mounted: result.mounted,
            bytes: result.bytes,
          },
          () =>
            [
              `Copied ${source} => ${destination}`,
              `Digest: ${result.descriptor.digest}`,
              `Blobs and manifests: ${result.copied} copied, ${result.mounted} mounted, ${result.skipped} already present (${result.bytes} bytes transferred)`,
            ].join('\n'),
        );
      },
      overrides,
    );
  });
}
