/**
 * commander, loaded with require(). It is a CommonJS package, and importing CommonJS as ESM makes Node
 * load cjs-module-lexer and parse the package's entry for its export names before requiring it anyway:
 * ~5 ms of the ~17 ms commander costs to load (bench/cli.ts), which every command pays. The CLI takes
 * commander's classes from here; `import type` from 'commander' is free (erased).
 */
import { createRequire } from 'node:module';
import type * as commander from 'commander';

const loaded = createRequire(import.meta.url)('commander') as typeof commander;

export const { Command, Option, CommanderError } = loaded;
export type Command = commander.Command;
export type Option = commander.Option;
export type CommanderError = commander.CommanderError;
