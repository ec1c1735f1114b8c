import { Command, CommanderError } from 'commander';
import { describeError, exitCodeFor } from '../errors.js';
import { buildProgram } from './program.js';

const program: Command = buildProgram();
try {
  await program.parseAsync(process.argv);
} catch (err) {
  if (err instanceof CommanderError) {
    process.exitCode = err.exitCode === 0 ? 0 : 2;
  } else {
    const debug = process.argv.includes('--debug');
    process.stderr.write(`Error: ${describeError(err)}\n`);
    if (debug && err instanceof Error && err.stack) process.stderr.write(`${err.stack}\n`);
    process.exitCode = exitCodeFor(err);
  }
}
