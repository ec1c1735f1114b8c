/**
 * Body benchmarks of `meshwasm run`, each against the upstream reached directly in the same run:
 *   - large-body throughput: a 300 MiB download and a 200 MB upload with curl (the client), directly and
 *     through the sidecar with the header filter (its body callbacks return Continue); target >= 0.5x;
 *     a minimal node:http proxy (pipe both ways, 1 MiB socket buffers) is measured alongside, as the floor
 *     of any proxy written on Node's http stack, and a TCP pipe (net.Socket both ways, no HTTP at all, 1 MiB
 *     reads on both sides), as the ceiling of any proxy in a Node process: it copies each byte in and out,
 *     nothing more;
 *   - the sidecar's peak RSS over both (VmHWM; target < 150 MB: the body streams, it is not buffered);
 *   - latency added per chunk of a slow stream (one chunk every 50 ms): arrival times through the sidecar
 *     minus the arrival times of the same chunks from the upstream directly.
 */
import { runRound } from './rounds.js';
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { cpuSeconds, median } from './stats.js';

const DOWNLOAD_BYTES = 300 * 1024 * 1024;
const UPLOAD_BYTES = 200_000_000;
const SLOW_CHUNKS = 20;
const SLOW_INTERVAL_MS = 50;

/** The upstream, its own process: large bodies from one preallocated buffer, uploads counted. */
const UPSTREAM = `
const http = require('node:http');
const block = Buffer.alloc(64 * 1024, 120);
const server = http.createServer((req, res) => {
  const url = new URL(req.url, 'http://x');
  if (url.pathname === '/upload') {
    let n = 0;
    req.on('data', (c) => (n += c.length));
    req.on('end', () => res.end(String(n)));
    return;
  }
  req.resume();
  if (url.pathname === '/slow') {
    let i = 0;
    res.setHeader('content-type', 'text/event-stream');
    res.flushHeaders();
    const tick = () => {
      // Stamped with the send time: the reader's clock is the same machine's.
      res.write('chunk ' + i + ' ' + (performance.timeOrigin + performance.now()).toFixed(3) + '\\n');
      if (++i < ${SLOW_CHUNKS}) setTimeout(tick, ${SLOW_INTERVAL_MS}); else res.end();
    };
    setTimeout(tick, ${SLOW_INTERVAL_MS});
    return;
  }
  let left = Number(url.searchParams.get('bytes'));
  res.setHeader('content-length', left);
  res.setHeader('content-type', 'application/octet-stream');
  const pump = () => {
    while (left > 0) {
      const piece = left >= block.length ? block : block.subarray(0, left);
      left -= piece.length;
      if (!res.write(piece)) return res.once('drain', pump);
    }
    res.end();
  };
  pump();
});
server.listen(0, '127.0.0.1', () => console.log('port ' + server.address().port));
`;

/** The floor: the least a node:http reverse proxy does (no filters, no logging, no framing rules). */
const NODE_PROXY = `
const http = require('node:http');
const upstream = new URL(process.argv[1]);
const agent = new http.Agent({ keepAlive: true, highWaterMark: 1 << 20 });
const server = http.createServer({ highWaterMark: 1 << 20 }, (req, res) => {
  const ureq = http.request({ host: upstream.hostname, port: upstream.port, path: req.url, method: req.method, headers: req.headers, agent }, (ures) => {
    res.writeHead(ures.statusCode, ures.headers);
    ures.pipe(res);
  });
  req.pipe(ureq);
});
server.listen(0, '127.0.0.1', () => console.log('port ' + server.address().port));
`;

/**
 * The ceiling: bytes from one socket to the other, each side read into 1 MiB buffers of its own (net
 * onread; the accepted socket is rewrapped for it, as src/http1/server.ts does).
 */
const TCP_PIPE = `
const net = require('node:net');
const upstream = new URL(process.argv[1]);
const reader = (target, other) => {
  let buf = Buffer.allocUnsafe(1 << 20);
  return {
    buffer: () => buf,
    callback: (n) => {
      const chunk = buf.subarray(0, n);
      buf = Buffer.allocUnsafe(1 << 20);
      if (!target().write(chunk)) { other().pause(); target().once('drain', () => other().resume()); }
    },
  };
};
const server = net.createServer({ pauseOnConnect: true, allowHalfOpen: true }, (raw) => {
  const handle = raw._handle;
  raw._handle = null;
  raw.destroy();
  let down, up;
  down = new net.Socket({ handle, readable: true, writable: true, highWaterMark: 1 << 20, onread: reader(() => up, () => down) });
  up = net.connect({ host: upstream.hostname, port: Number(upstream.port), highWaterMark: 1 << 20, onread: reader(() => down, () => up) });
  up.on('end', () => down.end());
  down.on('end', () => up.end());
  up.on('error', () => down.destroy());
  down.on('error', () => up.destroy());
});
server.listen(0, '127.0.0.1', () => console.log('port ' + server.address().port));
`;

export function startTcpPipe(upstream: string): Promise<{ url: string; child: ChildProcess }> {
  return startScript(TCP_PIPE, [upstream]);
}

export function startBodyUpstream(): Promise<{ url: string; child: ChildProcess }> {
  return startScript(UPSTREAM, []);
}

export function startNodeProxy(upstream: string): Promise<{ url: string; child: ChildProcess }> {
  return startScript(NODE_PROXY, [upstream]);
}

function startScript(script: string, args: string[]): Promise<{ url: string; child: ChildProcess }> {
  const child = spawn(process.execPath, ['-e', script, ...args], { stdio: ['ignore', 'pipe', 'inherit'] });
  return new Promise((resolve, reject) => {
    child.stdout.once('data', (c: Buffer) => {
      const port = /port (\d+)/.exec(c.toString())?.[1];
      if (port) resolve({ url: `http://127.0.0.1:${port}`, child });
      else reject(new Error(`upstream said: ${c.toString()}`));
    });
    child.once('exit', (code) => reject(new Error(`upstream exited (${code})`)));
  });
}

/** Seconds curl took, whole transfer; fails if curl saw an error or the wrong size. */
function curlSeconds(args: string[], expectBytes: number, field: 'size_download' | 'size_upload'): number {
  const out = execFileSync(
    'curl',
    ['-sS', '--fail', '-o', '/dev/null', '-w', `%{time_total} %{${field}}`, ...args],
    {
      encoding: 'utf8',
    },
  );
  const [seconds, size] = out.trim().split(' ').map(Number);
  if (size !== expectBytes) throw new Error(`curl moved ${size} bytes, expected ${expectBytes}: ${out}`);
  return seconds!;
}

/** Peak resident set of a process so far, in MB (Linux VmHWM). */
export function peakRssMb(pid: number): number {
  const kb = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1];
  return Number(kb) / 1024;
}

/**
 * Median seconds of the download and the upload per target, and the median CPU seconds (user + system)
 * the target's serving process spent on each (for `direct`, the upstream itself).
 */
export type Throughput = Record<
  string,
  { download: number; upload: number; downloadCpu: number; uploadCpu: number }
>;

/**
 * Interleaved rounds over the targets (label -> base URL and serving pid) of the download and the
 * upload, each target after a pause and in turns at going first (lib/rounds.ts).
 */
export async function largeBodies(
  targets: Record<string, { url: string; pid: number }>,
  rounds: number,
): Promise<Throughput> {
  const dir = mkdtempSync(join(tmpdir(), 'meshwasm-bench-'));
  try {
    const file = join(dir, 'upload.bin');
    writeFileSync(file, Buffer.alloc(UPLOAD_BYTES, 121));
    const down = (base: string) =>
      curlSeconds([`${base}/download?bytes=${DOWNLOAD_BYTES}`], DOWNLOAD_BYTES, 'size_download');
    const up = (base: string) => curlSeconds(['-T', file, `${base}/upload`], UPLOAD_BYTES, 'size_upload');
    for (const { url } of Object.values(targets)) down(url); // warm-up: page cache, sockets, JIT
    const times: Record<string, Record<keyof Throughput[string], number[]>> = {};
    for (const label of Object.keys(targets))
      times[label] = { download: [], upload: [], downloadCpu: [], uploadCpu: [] };
    for (let i = 0; i < rounds; i++) {
      const jobs = Object.entries(targets).map(([label, { url, pid }]) => async () => {
        const t = times[label]!;
        let cpu = cpuSeconds(pid);
        t.download.push(down(url));
        t.downloadCpu.push(cpuSeconds(pid) - cpu);
        cpu = cpuSeconds(pid);
        t.upload.push(up(url));
        t.uploadCpu.push(cpuSeconds(pid) - cpu);
      });
      await runRound(i, jobs);
    }
    return Object.fromEntries(
      Object.entries(times).map(([label, t]) => [
        label,
        {
          download: median(t.download),
          upload: median(t.upload),
          downloadCpu: median(t.downloadCpu),
          uploadCpu: median(t.uploadCpu),
        },
      ]),
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** For each line of the slow stream: ms from the upstream's write to its arrival here. */
function chunkLatencies(url: string): Promise<number[]> {
  return new Promise((resolve, reject) => {
    const latencies: number[] = [];
    let pending = '';
    request(url, (res) => {
      res.on('data', (c: Buffer) => {
        const now = performance.timeOrigin + performance.now();
        pending += c.toString();
        let nl: number;
        while ((nl = pending.indexOf('\n')) >= 0) {
          latencies.push(now - Number(pending.slice(0, nl).split(' ')[2]));
          pending = pending.slice(nl + 1);
        }
      });
      res.on('end', () => resolve(latencies));
    })
      .on('error', reject)
      .end();
  });
}

/**
 * Latency the sidecar adds to each chunk of a slow stream: median over chunks of (upstream write ->
 * arrival through `via`) minus the same directly. Both streams run at the same time, after a warm-up
 * stream, so that other load on the machine hits them alike.
 */
export async function addedChunkLatencyMs(direct: string, via: string): Promise<number> {
  await chunkLatencies(`${via}/slow`);
  const [base, through] = await Promise.all([
    chunkLatencies(`${direct}/slow`),
    chunkLatencies(`${via}/slow`),
  ]);
  if (base.length !== SLOW_CHUNKS || through.length !== SLOW_CHUNKS)
    throw new Error(`expected ${SLOW_CHUNKS} chunks, got ${base.length} and ${through.length}`);
  return median(through) - median(base);
}

export const SIZES = { DOWNLOAD_BYTES, UPLOAD_BYTES, SLOW_CHUNKS, SLOW_INTERVAL_MS };
