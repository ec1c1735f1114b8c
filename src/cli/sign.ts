import type { Command } from 'commander';
import {
  addOutputOption,
  addTransportOptions,
  emit,
  withSession,
  type TransportFlags,
} from './oci-options.js';

interface SignFlags extends TransportFlags {
  key: string;
  bundle?: boolean;
  ociLayout?: boolean;
  output: string;
}

export function register(program: Command): void {
  const command = program
    .command('sign')
    .description(
      'sign an image digest with a cosign key: the sha256-<hex>.sig signature cosign verifies, and optionally a Sigstore bundle referrer',
    )
    .argument('<reference>', 'registry/repository[:tag|@digest] (a tag is resolved and its digest signed)')
    .requiredOption(
      '--key <file>',
      'cosign private key (cosign.key; encrypted keys read COSIGN_PASSWORD or ask for it)',
    )
    .option('--bundle', 'also attach a Sigstore bundle as an OCI 1.1 referrer (tag-schema fallback)')
    .option('--oci-layout', 'sign in an OCI image-layout directory: dir[:tag|@digest]');
  addTransportOptions(command);
  addOutputOption(command);
  command.action(async (reference: string, flags: SignFlags) => {
    const { readFile } = await import('node:fs/promises');
    const { MeshwasmError } = await import('../errors.js');
    const { parsePrivateKey, signManifest } = await import('../sign/index.js');
    const { cosignPassword } = await import('./password.js');
    let keyText: string;
    try {
      keyText = await readFile(flags.key, 'utf8');
    } catch (err) {
      throw new MeshwasmError('IO', `cannot read key ${flags.key}: ${(err as Error).message}`);
    }
    // The key (and its password) is checked before anything is sent to the registry.
    const key = await parsePrivateKey(keyText, flags.key, cosignPassword(flags.key));
    await withSession(flags, async (session) => {
      const opened = await session.open(reference, { ociLayout: flags.ociLayout });
      const manifest = await opened.target.resolve(opened.selector);
      const name = opened.reference
        ? `${opened.reference.registry}/${opened.reference.repository}`
        : opened.display;
      const result = await signManifest(opened.target, manifest, name, key, { bundle: flags.bundle });
      emit(flags.output, { reference, ...result }, () =>
        [
          `Signed ${name}@${result.digest}`,
          `Signature: ${name}:${result.signatureTag} (${result.signatureManifest})`,
          ...(result.bundle
            ? [
                `Bundle:    ${result.bundle.digest} (referrer via ${result.bundle.referrers === 'api' ? 'the referrers API' : `the tag schema, ${name}:${result.digest.replace(':', '-')}`})`,
              ]
            : []),
        ].join('\n'),
      );
    });
  });
}
