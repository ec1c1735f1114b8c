import { MeshwasmError } from '../errors.js';

/**
 * The password of an encrypted cosign key, as cosign finds it: COSIGN_PASSWORD if set (even empty),
 * else a prompt on the terminal (no echo). Without a terminal and without the variable: a clear error,
 * never a hang. The password is never printed or logged.
 */
export function cosignPassword(keyFile: string, options: { confirm?: boolean } = {}): () => Promise<string> {
  return async () => {
    const fromEnv = process.env.COSIGN_PASSWORD;
    if (fromEnv !== undefined) return fromEnv;
    if (!process.stdin.isTTY || !process.stderr.isTTY) {
      throw new MeshwasmError('USAGE', `${keyFile} is encrypted and COSIGN_PASSWORD is not set`, {
        hint: 'set COSIGN_PASSWORD to the key password, or run the command in a terminal to be asked for it',
      });
    }
    const password = await prompt(`Enter password for private key ${keyFile}: `);
    if (options.confirm && (await prompt('Enter password for private key again: ')) !== password)
      throw new MeshwasmError('USAGE', 'the two passwords differ');
    return password;
  };
}

function prompt(question: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const stdin = process.stdin;
    process.stderr.write(question);
    stdin.setRawMode(true);
    stdin.resume();
    let typed = '';
    const done = (err?: Error): void => {
      stdin.setRawMode(false);
      stdin.pause();
      stdin.off('data', onData);
      process.stderr.write('\n');
      if (err) reject(err);
      else resolve(typed);
    };
    const onData = (chunk: Buffer): void => {
      for (const ch of chunk.toString('utf8')) {
        if (ch === '\r' || ch === '\n') return done();
        if (ch === '\u0003') return done(new MeshwasmError('USAGE', 'interrupted'));
        if (ch === '\u007f' || ch === '\b') typed = typed.slice(0, -1);
        else typed += ch;
      }
    };
    stdin.on('data', onData);
  });
}
