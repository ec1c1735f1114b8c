import type { Command } from 'commander';
import { Option } from './commander.js';
import {
  addOutputOption,
  addTransportOptions,
  emit,
  withSession,
  type TransportFlags,
} from './oci-options.js';

interface VerifyFlags extends TransportFlags {
  key: string[];
  certificateIdentity?: string;
  certificateIdentityRegexp?: string;
  certificateOidcIssuer?: string;
  trustedRoot?: string;
  policy?: string;
  dockerReference: 'match' | 'ignore';
  ociLayout?: boolean;
  output: string;
}

export function register(program: Command): void {
  const command = program
    .command('verify')
    .description(
      'check that an image digest is signed by a trusted key or keyless identity (cosign signatures and Sigstore bundles; offline but for the registry)',
    )
    .argument('<reference>', 'registry/repository[:tag|@digest] (a tag is resolved; its digest is checked)')
    .option(
      '--key <file>',
      'trusted cosign public key (cosign.pub); repeat for several',
      (value: string, previous: string[]) => [...previous, value],
      [] as string[],
    )
    .option('--certificate-identity <subject>', 'keyless: the exact certificate subject (e-mail or URI)')
    .option('--certificate-identity-regexp <regexp>', 'keyless: a pattern the certificate subject must match')
    .option('--certificate-oidc-issuer <url>', 'keyless: the OIDC issuer the certificate must name')
    .option(
      '--trusted-root <file>',
      'Sigstore trusted root JSON (Fulcio CAs, Rekor and CT log keys) for keyless',
    )
    .option('--policy <file>', 'a verification policy file, as the controller and agent read it')
    .addOption(
      new Option(
        '--docker-reference <mode>',
        'match: a cosign signature must name this repository (one copied from another is refused); ignore: only the digest counts, as in cosign (with --policy, its dockerReference field decides)',
      )
        .choices(['match', 'ignore'])
        .default('match'),
    )
    .option('--oci-layout', 'verify in an OCI image-layout directory: dir[:tag|@digest]');
  addTransportOptions(command);
  addOutputOption(command);
  command.action(async (reference: string, flags: VerifyFlags) => {
    const { policyFromFlags } = await import('./verify-policy.js');
    const { verifyManifestSignature } = await import('../sign/index.js');
    const policy = policyFromFlags(flags);
    await withSession(flags, async (session) => {
      const opened = await session.open(reference, { ociLayout: flags.ociLayout });
      const manifest = await opened.target.resolve(opened.selector);
      const result = await verifyManifestSignature(opened.target, manifest.digest, policy, {
        reference: flags.ociLayout ? undefined : reference,
      });
      emit(flags.output, { reference, verified: true, ...result }, () =>
        [
          `Verified ${opened.target.description}@${result.digest}`,
          `Signed by: ${result.signer}`,
          `Found in:  ${result.via === 'cosign-signature-tag' ? 'the cosign signature tag' : `a Sigstore bundle (referrers ${result.referrers === 'api' ? 'API' : 'tag schema'})`}`,
        ].join('\n'),
      );
    });
  });
}
