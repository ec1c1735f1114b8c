/** Real processes and real HTTP for the sidecar tests: a recording upstream and `meshwasm run` itself. */
import { spawn, type ChildProcess } from 'node:child_process';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';

export interface Recorded {
  method: string;
  url: string;
  headers: IncomingMessage['headers'];
  body: string;
}

export interface Upstream {
  url: string;
  requests: Recorded[];
  close(): Promise<void>;
}

type Handler = (req: Recorded, res: ServerResponse) => void;

const defaultHandler: Handler = (req, res) => {
  res.setHeader('content-type', 'text/plain');
  res.end(`upstream saw ${req.method} ${req.url} body=${req.body}`);
};

export async function startUpstream(handler: Handler = defaultHandler): Promise<Upstream> {
  const requests: Recorded[] = [];
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const recorded = {
        method: req.method ?? '',
        url: req.url ?? '',
        headers: req.headers,
        body: Buffer.concat(chunks).toString(),
      };
      requests.push(recorded);
      handler(recorded, res);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

function parseLogs(text: string): Array<Record<string, unknown>> {
  return text
    .split('\n')
    .filter((l) => l.startsWith('{') && l.endsWith('}'))
    .map((l) => JSON.parse(l) as Record<string, unknown>);
}

const bin = fileURLToPath(new URL('../../bin/meshwasm.js', import.meta.url));

export interface RunningSidecar {
  url: string;
  process: ChildProcess;
  /** JSON log lines written so far. */
  logs(): Array<Record<string, unknown>>;
  stderr(): string;
  /** Resolves with the first log line matching, waiting for it to be written (up to 5 s). */
  waitForLog(match: (line: Record<string, unknown>) => boolean): Promise<Record<string, unknown>>;
  /** SIGTERM, then the exit code. */
  stop(): Promise<number | null>;
}

/** Starts `meshwasm run <args> --listen 127.0.0.1:0` and resolves once it listens. */
export async function runSidecar(args: string[]): Promise<RunningSidecar> {
  const child = spawn(process.execPath, [bin, 'run', '--listen', '127.0.0.1:0', ...args], {
    env: { ...process.env, MESHWASM_LOG_LEVEL: 'info' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  child.stdout!.on('data', (c: Buffer) => (out += c.toString()));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  const url = await new Promise<string>((resolve, reject) => {
    child.stderr!.on('data', (c: Buffer) => {
      err += c.toString();
      const m = /listening on (http:\/\/\S+),/.exec(err);
      if (m) resolve(m[1]!);
    });
    void exited.then((code) => reject(new Error(`meshwasm run exited with ${code}: ${err}`)));
  });
  return {
    url,
    process: child,
    logs: () => parseLogs(out),
    stderr: () => err,
    waitForLog: async (match) => {
      for (let waited = 0; waited < 5000; waited += 25) {
        const line = parseLogs(out).find(match);
        if (line) return line;
        await new Promise((r) => setTimeout(r, 25));
      }
      throw new Error(`no matching log line in:\n${out}`);
    },
    stop: async () => {
      if (child.exitCode === null) child.kill('SIGTERM');
      return exited;
    },
  };
}
