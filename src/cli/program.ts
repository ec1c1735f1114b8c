import { Command } from 'commander';
import { register as agent } from './agent.js';
import { register as controller } from './controller.js';
import { register as copy } from './copy.js';
import { register as inspect } from './inspect.js';
import { register as install } from './install.js';
import { register as login } from './login.js';
import { register as pull } from './pull.js';
import { register as push } from './push.js';
import { register as render } from './render.js';
import { register as uninstall } from './uninstall.js';
import { register as sign } from './sign.js';
import { register as verify } from './verify.js';
import { register as generateKeyPair } from './generate-key-pair.js';
import { register as run } from './run.js';

/**
 * The command tree. Each verb lives in its own file and exports `register(program)`; this file only
 * wires them, so the README's CLI reference can be generated from the same definitions.
 *
 * Building the tree must stay cheap, since every invocation (`--version` included) pays for it: a verb
 * file imports statically only commander, errors, constants and option helpers, and its action loads
 * what the verb needs with `await import()` (the OCI client and its HTTP stack, the Kubernetes client,
 * pino, prom-client, yaml, the runtime). `bench/cli.ts` prints what each of them costs to load.
 */
export function buildProgram(): Command {
  const program = new Command('meshwasm')
    .description('WebAssembly filters for Envoy-based service meshes, distributed through OCI registries')
    .version('0.1.0')
    .option('--debug', 'print stack traces on errors')
    .exitOverride()
    .showHelpAfterError();
  for (const register of verbs) register(program);
  return program;
}

type Register = (program: Command) => void;
const verbs: Register[] = [
  push,
  pull,
  inspect,
  copy,
  sign,
  verify,
  generateKeyPair,
  login,
  render,
  install,
  uninstall,
  run,
  agent,
  controller,
];
