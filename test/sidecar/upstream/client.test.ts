/**
 * The sidecar's own HTTP/1.1 upstream client over real sockets: keep-alive reuse (and when a connection
 * must not be reused), a pooled connection the upstream closed meanwhile, an upstream that goes away in
 * the middle of a body, responses it cannot read (502 with the reason, in the reply and the log), and
 * chunked bodies and heads split every way, with and without a filter reading the body.
 */
import { createServer as createHttpServer, request, type Server as HttpServer } from 'node:http';
import { createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { createLogger } from '../../../src/log.js';
import { afterEach, describe, expect, it } from 'vitest';
import { startSidecar, type FilterSpec, type Sidecar } from '../../../src/sidecar/index.js';
import { HEADER_FILTER_WASM } from '../../support/global-setup.js';

const HDR: FilterSpec = { name: 'hdr', file: HEADER_FILTER_WASM };
const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

interface Logged {
  msg: string;
  err?: string;
}

async function sidecar(
  upstream: string,
  filters: FilterSpec[] = [],
): Promise<{ s: Sidecar; logs: Logged[] }> {
  const logs: Logged[] = [];
  const logger = createLogger('test', 'warn', { write: (l: string) => logs.push(JSON.parse(l) as Logged) });
  const s = await startSidecar({ upstream, logger, filters });
  cleanups.push(() => s.close());
  return { s, logs };
}

/** A raw TCP upstream: `onConnection` writes whatever bytes it likes. Counts connections. */
async function rawUpstream(
  onConnection: (socket: Socket, index: number) => void,
): Promise<{ url: string; connections: () => number }> {
  let count = 0;
  const sockets = new Set<Socket>();
  const server: Server = createServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => undefined);
    onConnection(socket, count++);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  cleanups.push(async () => {
    for (const s of sockets) s.destroy();
    await new Promise((resolve) => server.close(resolve));
  });
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, connections: () => count };
}

/** Calls `each` with every complete request head the socket receives (bodies are ignored). */
function onRequests(socket: Socket, each: (head: string, n: number) => void): void {
  let text = '';
  let n = 0;
  socket.on('data', (c: Buffer) => {
    text += c.toString('latin1');
    let end: number;
    while ((end = text.indexOf('\r\n\r\n')) >= 0) {
      const head = text.slice(0, end);
      text = text.slice(end + 4);
      each(head, n++);
    }
  });
}

interface Reply {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
  /** The response broke off (the sidecar reset the client's connection). */
  broken: boolean;
}

function send(url: string, method = 'GET', body?: string): Promise<Reply> {
  return new Promise((resolve) => {
    const req = request(url, { method, agent: false }, (res) => {
      let text = '';
      res.on('data', (c: Buffer) => (text += c.toString('latin1')));
      const done = (broken: boolean) =>
        resolve({ status: res.statusCode ?? 0, headers: res.headers, body: text, broken });
      res.on('end', () => done(false));
      res.on('aborted', () => done(true));
      res.on('error', () => done(true));
    });
    // Reset before the head: nothing of a response at all.
    req.on('error', () => resolve({ status: 0, headers: {}, body: '', broken: true }));
    req.end(body);
  });
}

const wait = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('upstream connections', () => {
  it('reuses one keep-alive connection for sized, chunked, empty and HEAD responses, with or without filters', async () => {
    let connections = 0;
    const server: HttpServer = createHttpServer((req, res) => {
      if (req.url === '/chunked') {
        res.write('a');
        res.end('b');
      } else if (req.url === '/empty') {
        res.statusCode = 204;
        res.end();
      } else res.end('sized');
    });
    server.on('connection', () => connections++);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    cleanups.push(
      () =>
        new Promise<void>((resolve) => {
          server.closeAllConnections();
          server.close(() => resolve());
        }),
    );
    const upstream = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    for (const filters of [[], [HDR]]) {
      connections = 0;
      const { s } = await sidecar(upstream, filters);
      const bodies: string[] = [];
      for (const path of ['/sized', '/chunked', '/empty', '/sized', '/chunked'])
        bodies.push((await send(`${s.url}${path}`)).body);
      expect((await send(`${s.url}/sized`, 'HEAD')).status).toBe(200);
      expect((await send(`${s.url}/upload`, 'POST', 'x'.repeat(100_000))).body).toBe('sized');
      expect(bodies).toEqual(['sized', 'ab', '', 'sized', 'ab']);
      expect(connections).toBe(1);
    }
  });

  it('opens a new connection after a response that says connection: close or ends with the connection', async () => {
    const upstream = await rawUpstream((socket, index) =>
      onRequests(socket, () => {
        if (index === 0) socket.write('HTTP/1.1 200 OK\r\nconnection: close\r\ncontent-length: 2\r\n\r\nc0');
        else if (index === 1) socket.end('HTTP/1.1 200 OK\r\n\r\nuntil the end');
        else socket.write('HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok');
      }),
    );
    const { s } = await sidecar(upstream.url);
    expect((await send(`${s.url}/`)).body).toBe('c0');
    expect((await send(`${s.url}/`)).body).toBe('until the end');
    expect((await send(`${s.url}/`)).body).toBe('ok');
    expect((await send(`${s.url}/`)).body).toBe('ok');
    expect(upstream.connections()).toBe(3);
  });

  it('retries a request that sent no body on a new connection when a pooled one was closed under it', async () => {
    // The first connection answers once, then closes when the next request arrives (the race of an
    // upstream's keep-alive timeout against the sidecar picking the idle connection).
    const upstream = await rawUpstream((socket, index) =>
      onRequests(socket, (_head, n) => {
        if (index === 0 && n > 0) socket.destroy();
        else socket.write(`HTTP/1.1 200 OK\r\ncontent-length: 6\r\n\r\nconn ${index}`);
      }),
    );
    const { s } = await sidecar(upstream.url, [HDR]);
    expect((await send(`${s.url}/a`)).body).toBe('conn 0');
    const again = await send(`${s.url}/b`);
    expect(again.status).toBe(200);
    expect(again.body).toBe('conn 1');
  });

  it('does not retry a request whose body already went out: 502 saying the upstream closed', async () => {
    const upstream = await rawUpstream((socket, index) =>
      onRequests(socket, (_head, n) => {
        if (index === 0 && n > 0) socket.destroy();
        else socket.write('HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok');
      }),
    );
    const { s, logs } = await sidecar(upstream.url);
    expect((await send(`${s.url}/a`)).body).toBe('ok');
    const reply = await send(`${s.url}/b`, 'POST', 'payload');
    expect(reply.status).toBe(502);
    expect(reply.body).toMatch(
      /upstream connect error: (the upstream closed the connection before it sent a response|read ECONNRESET)/,
    );
    expect(logs.some((l) => l.msg === 'upstream request failed')).toBe(true);
  });
});

describe('upstream going away mid-body', () => {
  for (const [label, filters] of [
    ['piped', []],
    ['through a filter', [HDR]],
  ] as const) {
    it(`resets the client and logs why, sized and chunked (${label})`, async () => {
      const upstream = await rawUpstream((socket) =>
        onRequests(socket, (head) => {
          if (head.startsWith('GET /sized'))
            socket.write('HTTP/1.1 200 OK\r\ncontent-length: 1000\r\n\r\nonly ten b');
          else socket.write('HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n5\r\nfirst\r\n100\r\npart');
          setTimeout(() => socket.destroy(), 50);
        }),
      );
      const { s, logs } = await sidecar(upstream.url, [...filters]);
      const sized = await send(`${s.url}/sized`);
      expect(sized.status).toBe(200);
      expect(sized.broken).toBe(true);
      expect(sized.body).toBe('only ten b');
      const chunked = await send(`${s.url}/chunked`);
      expect(chunked.broken).toBe(true);
      expect(chunked.body).toBe('firstpart');
      await wait(20);
      const broke = logs.filter((l) => l.msg === 'upstream response broke off').map((l) => l.err);
      expect(broke).toEqual([
        'the upstream closed the connection before 990 more bytes of the body',
        'the upstream closed the connection before the rest of the chunked body',
      ]);
    });
  }
});

describe('responses the sidecar cannot read', () => {
  it('answers 502 naming what was wrong, and logs it', async () => {
    const heads: Record<string, string> = {
      '/status': 'HTTP/1.1 two hundred\r\n\r\n',
      '/field': 'HTTP/1.1 200 OK\r\nbad header\r\n\r\n',
      '/length': 'HTTP/1.1 200 OK\r\ncontent-length: 5, 6\r\n\r\nhello',
      '/switch': 'HTTP/1.1 101 Switching Protocols\r\nupgrade: x\r\n\r\n',
      '/huge': `HTTP/1.1 200 OK\r\n${'x-filler: yyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyy\r\n'.repeat(2000)}\r\n`,
    };
    const upstream = await rawUpstream((socket) =>
      onRequests(socket, (head) => socket.write(heads[head.split(' ')[1]!]!)),
    );
    const { s, logs } = await sidecar(upstream.url, [HDR]);
    const expected: Record<string, string> = {
      '/status': 'the status line "HTTP/1.1 two hundred" is not "HTTP/1.x NNN reason"',
      '/field': 'response head: invalid header line "bad header"',
      '/length': 'content-length "5, 6" is not one decimal length',
      '/switch': 'the upstream switched protocols (101); upgrades are not proxied',
      '/huge': 'the response head is larger than 65536 bytes',
    };
    for (const [path, reason] of Object.entries(expected)) {
      const reply = await send(`${s.url}${path}`);
      expect(reply.status, path).toBe(502);
      expect(reply.body).toBe(`upstream sent a malformed response: ${reason}\n`);
    }
    const logged = logs.filter((l) => l.msg === 'upstream sent a malformed response').map((l) => l.err);
    expect(logged).toEqual(Object.values(expected));
  });

  it('passes a broken chunked body as a reset of the client, naming the framing error', async () => {
    const upstream = await rawUpstream((socket) =>
      onRequests(socket, () =>
        socket.write('HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n3\r\nabc\r\nzz\r\n'),
      ),
    );
    const { s, logs } = await sidecar(upstream.url);
    const reply = await send(`${s.url}/`);
    expect(reply.broken).toBe(true);
    await wait(20);
    expect(logs.map((l) => l.err)).toContain('chunked body: "zz" is not a chunk size');
  });
});

describe('split and interim responses', () => {
  for (const [label, filters] of [
    ['piped', []],
    ['through a filter', [HDR]],
  ] as const) {
    it(`reads heads and chunked bodies sent a byte at a time, after 100 Continue, with trailers (${label})`, async () => {
      const response =
        'HTTP/1.1 100 Continue\r\n\r\n' +
        'HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\ntrailer: x-sum\r\n\r\n' +
        '4;ext\r\nWiki\r\n5\r\npedia\r\nE\r\n in\r\n\r\nchunks.\r\n0\r\nx-sum: 42\r\n\r\n';
      const upstream = await rawUpstream((socket) =>
        onRequests(socket, () => {
          let i = 0;
          const next = () => {
            if (i < response.length) socket.write(response[i++]!, () => setImmediate(next));
          };
          next();
        }),
      );
      const { s } = await sidecar(upstream.url, [...filters]);
      const reply = await new Promise<{ body: string; trailers: Record<string, string | undefined> }>(
        (resolve, reject) => {
          request(`${s.url}/`, { agent: false }, (res) => {
            let body = '';
            res.on('data', (c: Buffer) => (body += c.toString()));
            res.on('end', () => resolve({ body, trailers: res.trailers }));
          })
            .on('error', reject)
            .end();
        },
      );
      expect(reply.body).toBe('Wikipedia in\r\n\r\nchunks.');
      expect(reply.trailers['x-sum']).toBe('42');
    });
  }
});
