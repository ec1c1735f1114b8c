import { VERSION } from './version.js';

// `meshwasm --version` alone is answered before anything else loads (commander included): scripts
// call it to probe for the CLI, and it prints exactly what commander's own --version would.
// No top-level await: this file is also bundled as CommonJS (scripts/bundle-cli.mjs), and run() catches
// whatever the command throws.
const args = process.argv.slice(2);
if (args.length === 1 && (args[0] === '--version' || args[0] === '-V')) {
  printVersion();
} else {
  void run(process.argv);
}

async function run(argv: string[]): Promise<void> {
  const [{ CommanderError }, { describeError, exitCodeFor }, { buildProgram }] = await Promise.all([
    import('./commander.js'),
    import('../errors.js'),
    import('./program.js'),
  ]);
  try {
    const program = await buildProgram(argv);
    await program.parseAsync(argv);
  } catch (err) {
    if (err instanceof CommanderError) {
      process.exitCode = err.exitCode === 0 ? 0 : 2;
    } else {
      const debug = argv.includes('--debug');
      process.stderr.write(`Error: ${describeError(err)}\n`);
      if (debug && err instanceof Error && err.stack) process.stderr.write(`${err.stack}\n`);
      process.exitCode = exitCodeFor(err);
    }
  }
}

/**
 * Written to the descriptor where it can be: the first touch of process.stdout, like an `import` of
 * node:fs (process.getBuiltinModule, Node >= 20.16, avoids that), loads Node's stream modules.
 */
function printVersion(): void {
  const fs = process.getBuiltinModule?.('node:fs');
  try {
    if (fs) {
      fs.writeSync(1, `${VERSION}\n`);
      return;
    }
  } catch {
    // e.g. EAGAIN on a full non-blocking pipe: the stream below waits for it
  }
  process.stdout.write(`${VERSION}\n`);
}
