/**
 * commander, loaded with require(). It is a CommonJS package, and importing CommonJS as ESM makes Node
 * load cjs-module-lexer and parse the package's entry for its export names before requiring it anyway:
 * ~5 ms of the ~17 ms commander costs to load (bench/cli.ts), which every command pays. The CLI takes
 * commander's classes from here; `import type` from 'commander' is free (erased).
 *
 * commander also requires node:child_process as it loads, for executable subcommands, which meshwasm
 * never defines; loading it (and dgram with it) took ~5 ms here, in every command. So while commander
 * loads, its require of child_process gets a stand-in that loads the real module on first use (never,
 * in meshwasm: the agent's server loads it through node:net's listen, and credential helpers import it).
 */
import { createRequire } from 'node:module';
import type * as commander from 'commander';

const require = createRequire(import.meta.url);

type Load = (request: string, parent: unknown, isMain: boolean) => unknown;
const modules = require('node:module') as { _load: Load };

function requireCommander(): typeof commander {
  const load = modules._load;
  let childProcess: object | undefined;
  const real = () => (childProcess ??= load('node:child_process', null, false) as object);
  const standIn = new Proxy({}, { get: (_target, key) => Reflect.get(real(), key) });
  modules._load = function (this: unknown, request, parent, isMain) {
    if (request === 'node:child_process' || request === 'child_process') return standIn;
    return load.call(this, request, parent, isMain);
  };
  try {
    return require('commander') as typeof commander;
  } finally {
    modules._load = load;
  }
}

export const { Command, Option, CommanderError } = requireCommander();
export type Command = commander.Command;
export type Option = commander.Option;
export type CommanderError = commander.CommanderError;
