import { Command } from './commander.js';
import { VERSION } from './version.js';

/** A verb's file: it exports `register(program)`, which defines the command and its lazy action. */
interface VerbModule {
  register(program: Command): void;
}

interface Verb {
  /** the command's name and aliases (and any sibling command the same file defines) */
  names: readonly string[];
  load(): Promise<VerbModule>;
}

/**
 * The verbs, in the order `--help` lists them. Each lives in its own file; this table only wires them,
 * so the README's CLI reference can be generated from the same definitions.
 */
const verbs: readonly Verb[] = [
  { names: ['push'], load: () => import('./push.js') },
  { names: ['pull'], load: () => import('./pull.js') },
  { names: ['inspect'], load: () => import('./inspect.js') },
  { names: ['copy', 'cp'], load: () => import('./copy.js') },
  { names: ['sign'], load: () => import('./sign.js') },
  { names: ['verify'], load: () => import('./verify.js') },
  { names: ['generate-key-pair'], load: () => import('./generate-key-pair.js') },
  { names: ['login', 'logout'], load: () => import('./login.js') },
  { names: ['render'], load: () => import('./render.js') },
  { names: ['install'], load: () => import('./install.js') },
  { names: ['uninstall'], load: () => import('./uninstall.js') },
  { names: ['run'], load: () => import('./run.js') },
  { names: ['agent'], load: () => import('./agent.js') },
  { names: ['controller'], load: () => import('./controller.js') },
];

/** Every name the table defines (a test compares it with the commands the verb files register). */
export const VERB_NAMES: readonly string[] = verbs.flatMap((verb) => verb.names);

/**
 * The command tree. Every invocation pays for building it, so it is built for what was typed: with
 * `argv`, a command line naming a verb gets only that verb's definition (its file and what that imports
 * statically); anything else (no verb, `help`, `--help`, an unknown verb that commander should suggest
 * a near name for) and a call without `argv` (the docs generator) get every verb. A verb's file imports
 * statically only commander and small modules; its action loads what the verb needs with `await
 * import()` (the OCI client, the Kubernetes client, the logger, the metrics, yaml, the runtime).
 * `bench/cli.ts` prints what each of them costs to load.
 */
export async function buildProgram(argv?: readonly string[]): Promise<Command> {
  const program = new Command('meshwasm')
    .description('WebAssembly filters for Envoy-based service meshes, distributed through OCI registries')
    .version(VERSION)
    .option('--debug', 'print stack traces on errors')
    .exitOverride()
    .showHelpAfterError();
  const typed = argv && verbTyped(argv);
  const chosen = typed ? [typed] : verbs;
  // Loaded together, registered in the table's order (the order --help lists them in).
  for (const verb of await Promise.all(chosen.map((v) => v.load()))) verb.register(program);
  return program;
}

/**
 * The verb a command line (`process.argv`) names, if it names one of ours: the first argument after
 * the root's own options. The root's options take no value, so that argument is the verb; any other
 * option before it (`--help`, `--version`, a typo) means the whole tree is needed.
 */
export function verbTyped(argv: readonly string[]): Verb | undefined {
  for (const arg of argv.slice(2)) {
    if (arg === '--debug') continue;
    if (arg.startsWith('-')) return undefined;
    return verbs.find((verb) => verb.names.includes(arg));
  }
  return undefined;
}
