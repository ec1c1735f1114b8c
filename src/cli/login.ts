import type { Command } from 'commander';
import { MeshwasmError } from '../errors.js';
import { addOutputOption, emit, type TransportFlags } from './oci-options.js';

interface LoginFlags extends TransportFlags {
  username?: string;
  password?: string;
  passwordStdin?: boolean;
  output: string;
}

export function register(program: Command): void {
  const login = program
    .command('login')
    .description(
      'check credentials against a registry, then store them in the Docker config (mode 0600) or its credential helper',
    )
    .argument('<registry>', 'registry host[:port]')
    .option('-u, --username <name>', 'user name')
    .option(
      '-p, --password <password>',
      'password (prefer --password-stdin: arguments are visible to other users)',
    )
    .option('--password-stdin', 'read the password or token from standard input')
    .option('--plain-http', 'talk to the registry over plain HTTP')
    .option('--insecure', 'skip TLS certificate verification')
    .option('--ca-file <file>', 'trust this PEM CA bundle for the registry certificate')
    .option(
      '--registry-config <file>',
      'Docker config.json to write (default: $DOCKER_CONFIG/config.json or ~/.docker/config.json)',
    );
  addOutputOption(login);
  login.action(async (registryArg: string, flags: LoginFlags) => {
    const registry = await registryHost(registryArg);
    if (!flags.username)
      throw new MeshwasmError('USAGE', 'login needs --username', {
        hint: `meshwasm login ${registry} -u USER --password-stdin`,
      });
    const password = flags.passwordStdin ? (await readStdin()).replace(/\r?\n$/, '') : flags.password;
    if (!password)
      throw new MeshwasmError('USAGE', 'login needs a password', {
        hint: `pipe it in: echo "$PASSWORD" | meshwasm login ${registry} -u ${flags.username} --password-stdin`,
      });
    if (flags.password && !flags.passwordStdin)
      process.stderr.write(
        'Warning: a password on the command line is visible to other users; use --password-stdin\n',
      );

    const [{ RegistryClient }, { Transport }, { DockerConfig, defaultDockerConfigPath }] = await Promise.all([
      import('../oci/remote/client.js'),
      import('../oci/remote/transport.js'),
      import('../oci/credentials.js'),
    ]);
    const transport = new Transport({
      plainHttp: flags.plainHttp,
      insecure: flags.insecure,
      caFile: flags.caFile,
    });
    try {
      const client = new RegistryClient(registry, transport, {
        get: async () => ({ username: flags.username, password }),
      });
      const res = await client.send({ method: 'GET', path: '/v2/', scopes: [] });
      res.body.resume();
      if (res.status !== 200)
        throw new MeshwasmError(
          'REGISTRY',
          `${registry} answered ${res.status} to /v2/; is this an OCI registry?`,
        );
    } finally {
      await transport.close();
    }
    const path = defaultDockerConfigPath(flags.registryConfig);
    const config = await DockerConfig.load(path, (m) => process.stderr.write(`Warning: ${m}\n`));
    await config.store(registry, { username: flags.username, password });
    emit(
      flags.output,
      { registry, username: flags.username, config: path },
      () => `Login Succeeded (${registry}, credentials stored in ${path})`,
    );
  });

  const logout = program
    .command('logout')
    .description('remove stored credentials for a registry')
    .argument('<registry>', 'registry host[:port]')
    .option(
      '--registry-config <file>',
      'Docker config.json to edit (default: $DOCKER_CONFIG/config.json or ~/.docker/config.json)',
    );
  addOutputOption(logout);
  logout.action(async (registryArg: string, flags: { registryConfig?: string; output: string }) => {
    const registry = await registryHost(registryArg);
    const { DockerConfig, defaultDockerConfigPath } = await import('../oci/credentials.js');
    const path = defaultDockerConfigPath(flags.registryConfig);
    const config = await DockerConfig.load(path, (m) => process.stderr.write(`Warning: ${m}\n`));
    const removed = await config.erase(registry);
    emit(flags.output, { registry, removed }, () =>
      removed ? `Removed login credentials for ${registry}` : `Not logged in to ${registry}`,
    );
  });
}

/**
 * Accepts "host:port", "https://host", or "host/anything" and keeps the registry host. The reference
 * parser is loaded here, in the action, so that the command tree (built by every invocation) does not
 * load it and the digest code it imports (see program.ts).
 */
async function registryHost(input: string): Promise<string> {
  const host = input.replace(/^[a-z]+:\/\//i, '').replace(/\/.*$/, '');
  if (['docker.io', 'index.docker.io', 'registry-1.docker.io'].includes(host)) return 'docker.io';
  const { parseReference } = await import('../oci/reference.js');
  // Validate through the reference grammar with a dot-free host forced to count as a registry.
  parseReference(`${host.includes('.') || host.includes(':') ? host : `${host}.local`}/probe`);
  return host;
}

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}
