import type { Command } from 'commander';

interface GenerateFlags {
  outputKeyPrefix: string;
  force?: boolean;
}

export function register(program: Command): void {
  program
    .command('generate-key-pair')
    .description(
      'create an ECDSA P-256 key pair as `cosign generate-key-pair` does: PREFIX.key (encrypted, COSIGN_PASSWORD or asked) and PREFIX.pub',
    )
    .option('--output-key-prefix <prefix>', 'file name prefix', 'cosign')
    .option('--force', 'overwrite existing files')
    .action(async (flags: GenerateFlags) => {
      const { existsSync, writeFileSync } = await import('node:fs');
      const { MeshwasmError } = await import('../errors.js');
      const { generateKeyPair } = await import('../sign/index.js');
      const { cosignPassword } = await import('./password.js');
      const keyFile = `${flags.outputKeyPrefix}.key`;
      const pubFile = `${flags.outputKeyPrefix}.pub`;
      const existing = [keyFile, pubFile].filter((f) => existsSync(f));
      if (existing.length > 0 && !flags.force)
        throw new MeshwasmError(
          'IO',
          `${existing.join(' and ')} already exist${existing.length === 1 ? 's' : ''}`,
          {
            hint: 'pass --force to overwrite, or choose --output-key-prefix',
          },
        );
      const password = await cosignPassword(keyFile, { confirm: true })();
      const pair = generateKeyPair(password);
      try {
        writeFileSync(keyFile, pair.privateKeyPem, { mode: 0o600 });
        writeFileSync(pubFile, pair.publicKeyPem, { mode: 0o644 });
      } catch (err) {
        throw new MeshwasmError('IO', `cannot write the key pair: ${(err as Error).message}`);
      }
      process.stdout.write(`Private key written to ${keyFile}\nPublic key written to ${pubFile}\n`);
    });
}
