/**
 * Our HTTP/1.1 server (src/http1/server.ts) over real sockets: bytes are written exactly as clients
 * send them (split, pipelined, malformed) and what comes back is read off the wire.
 */
import { connect, type Socket } from 'node:net';
import { request } from 'node:http';
import { afterEach, describe, expect, it } from 'vitest';
import type { ServerReply } from '../../src/http1/reply.js';
import { Http1Server, type Http1ServerOptions, type ServerRequest } from '../../src/http1/server.js';
import type { BadRequest } from '../../src/http1/request-head.js';

const open: Http1Server[] = [];
afterEach(async () => {
  for (const s of open.splice(0)) {
    const closed = s.close();
    s.closeAllConnections();
    await closed;
  }
});

async function serve(
  handler: (req: ServerRequest, res: ServerReply) => void,
  options: Http1ServerOptions = {},
): Promise<{ server: Http1Server; port: number }> {
  const server = new Http1Server(handler, options);
  open.push(server);
  const { port } = await server.listen(0, '127.0.0.1');
  return { server, port };
}

/** Reads a whole body off a ServerRequest. */
function readBody(req: ServerRequest): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const parts: Uint8Array[] = [];
    req.body.read({ data: (c) => parts.push(c), end: () => resolve(Buffer.concat(parts)), error: reject });
  });
}

/** A raw client: write bytes, collect everything the server sends until it closes (or `until` holds). */
class RawClient {
  readonly socket: Socket;
  text = '';
  closed: Promise<void>;
  private waiters: Array<() => void> = [];

  constructor(port: number) {
    this.socket = connect(port, '127.0.0.1');
    this.socket.on('data', (c: Buffer) => {
      this.text += c.toString('latin1');
      for (const w of this.waiters.splice(0)) w();
    });
    this.socket.on('error', () => {});
    this.closed = new Promise((resolve) => this.socket.on('close', () => resolve()));
  }

  send(bytes: string | Buffer): this {
    this.socket.write(bytes);
    return this;
  }

  async until(check: (text: string) => boolean, ms = 5000): Promise<string> {
    const deadline = Date.now() + ms;
    while (!check(this.text)) {
      if (this.socket.destroyed) throw new Error(`connection closed; got ${JSON.stringify(this.text)}`);
      if (Date.now() > deadline) throw new Error(`timed out; got ${JSON.stringify(this.text)}`);
      await new Promise<void>((r) => {
        this.waiters.push(r);
        setTimeout(r, 50);
      });
    }
    return this.text;
  }

  /** Number of complete responses (status lines) received so far. */
  responses(): number {
    return (this.text.match(/HTTP\/1\.1 \d{3} /g) ?? []).length;
  }
}

const echo = (req: ServerRequest, res: ServerReply): void => {
  void readBody(req).then((body) => {
    res.setHeader('x-method', req.method);
    res.setHeader('x-url', req.url);
    res.end(`${req.method} ${req.url} ${body.length}`);
  });
};

describe('Http1Server', () => {
  it('serves several requests on one keep-alive connection, with date and keep-alive headers', async () => {
    const { port, server } = await serve(echo, { keepAliveTimeoutMs: 5000 });
    const c = new RawClient(port);
    c.send('GET /one HTTP/1.1\r\nHost: x\r\n\r\n');
    await c.until((t) => t.endsWith('GET /one 0'));
    c.send('POST /two HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello');
    const text = await c.until((t) => t.endsWith('POST /two 5'));
    expect(c.responses()).toBe(2);
    expect(text).toMatch(/^HTTP\/1\.1 200 OK\r\n/);
    expect(text).toMatch(/\r\ncontent-length: 10\r\n/);
    expect(text).toMatch(/\r\ndate: \w{3}, \d{2} \w{3} \d{4} \d{2}:\d{2}:\d{2} GMT\r\n/);
    expect(text).toMatch(/\r\nconnection: keep-alive\r\nkeep-alive: timeout=5\r\n/);
    expect(server.connectionCount).toBe(1);
    c.socket.destroy();
  });

  it('answers pipelined requests in order, each after the reply before it has left', async () => {
    let first: ServerReply | undefined;
    const { port } = await serve((req, res) => {
      if (req.url === '/slow') first = res;
      else res.end(`fast ${req.url}`);
    });
    const c = new RawClient(port);
    c.send(
      'GET /slow HTTP/1.1\r\nHost: x\r\n\r\nGET /a HTTP/1.1\r\nHost: x\r\n\r\nGET /b HTTP/1.1\r\nHost: x\r\n\r\n',
    );
    await new Promise((r) => setTimeout(r, 100));
    expect(c.text).toBe(''); // nothing overtakes the first reply
    first!.end('slow');
    const text = await c.until((t) => t.endsWith('fast /b'));
    expect(text.indexOf('slow')).toBeLessThan(text.indexOf('fast /a'));
    expect(text.indexOf('fast /a')).toBeLessThan(text.indexOf('fast /b'));
    expect(c.responses()).toBe(3);
    c.socket.destroy();
  });

  it('reads large and chunked bodies split at any point, with trailers', async () => {
    const bodies: Array<{ body: Buffer; trailers: string[] }> = [];
    const { port } = await serve((req, res) => {
      void readBody(req).then((body) => {
        bodies.push({ body, trailers: req.body.rawTrailers });
        res.end('ok');
      });
    });
    const big = Buffer.alloc(8 * 1024 * 1024 + 3, 7);
    const c = new RawClient(port);
    c.send(`PUT /big HTTP/1.1\r\nHost: x\r\nContent-Length: ${big.length}\r\n\r\n`).send(big);
    await c.until(() => c.responses() === 1);
    const chunked =
      'POST /c HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n6;ext=1\r\n world\r\n0\r\nX-Sum: 42\r\n\r\n';
    for (let i = 0; i < chunked.length; i += 3) {
      c.send(chunked.slice(i, i + 3));
      await new Promise((r) => setImmediate(r));
    }
    await c.until(() => c.responses() === 2);
    expect(bodies[0]!.body.equals(big)).toBe(true);
    expect(bodies[1]!.body.toString()).toBe('hello world');
    expect(bodies[1]!.trailers).toEqual(['X-Sum', '42']);
    c.socket.destroy();
  });

  it('sends 100 Continue to a client that expects it, and only then gets the body', async () => {
    const { port } = await serve(echo);
    const c = new RawClient(port);
    c.send('POST /up HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 3\r\n\r\n');
    await c.until((t) => t.startsWith('HTTP/1.1 100 Continue\r\n\r\n'));
    c.send('abc');
    await c.until((t) => t.endsWith('POST /up 3'));
    c.socket.destroy();
  });

  it.each([
    ['a request line that is not one', 'HELLO\r\n\r\n', 400, /is not "METHOD target HTTP\/1.x"/],
    [
      'both content-length and chunked',
      'POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n',
      400,
      /both transfer-encoding and content-length/,
    ],
    [
      'two different lengths',
      'POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\n',
      400,
      /is not one decimal length/,
    ],
    [
      'a coding other than chunked last',
      'POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\n\r\n',
      400,
      /does not end in chunked/,
    ],
    ['no host in HTTP/1.1', 'GET / HTTP/1.1\r\n\r\n', 400, /needs a host header/],
    ['a folded header line', 'GET / HTTP/1.1\r\nHost: x\r\nX-A: 1\r\n  2\r\n\r\n', 400, /folded header line/],
    [
      'an expectation it cannot meet',
      'GET / HTTP/1.1\r\nHost: x\r\nExpect: magic\r\n\r\n',
      417,
      /expectation "magic"/,
    ],
    ['another HTTP version', 'GET / HTTP/2.0\r\nHost: x\r\n\r\n', 501, /not 1.0 or 1.1/],
    [
      'a head over 64 KiB',
      `GET / HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(70_000)}\r\n\r\n`,
      431,
      /larger than 65536 bytes/,
    ],
  ])('refuses %s: the status, why, and the connection closes', async (_what, bytes, status, why) => {
    const refused: BadRequest[] = [];
    let handled = 0;
    const { port } = await serve(() => void handled++, { onClientError: (err) => refused.push(err) });
    const c = new RawClient(port);
    c.send(bytes);
    await c.closed;
    expect(c.text).toMatch(new RegExp(`^HTTP/1\\.1 ${status} `));
    expect(c.text).toMatch(/\r\nconnection: close\r\n/);
    expect(c.text).toMatch(why);
    expect(refused.map((e) => e.status)).toEqual([status]);
    expect(handled).toBe(0);
  });

  it('frames replies as their headers say: length, chunked, none for HEAD/204/304, close for HTTP/1.0', async () => {
    const { port } = await serve((req, res) => {
      if (req.url === '/known') res.end('four');
      else if (req.url === '/nolength') {
        res.removeHeader('content-length');
        res.end('body');
      } else if (req.url === '/stream') {
        res.write(Buffer.from('ab'));
        res.addTrailers({ 'x-t': '1' });
        res.end(Buffer.from('cd'));
      } else if (req.url === '/head') res.writeHead(200, { 'content-length': '10' }).end();
      else if (req.url === '/204') res.writeHead(204).end('ignored');
    });
    const get = async (line: string) => {
      const c = new RawClient(port);
      c.send(`${line}\r\nHost: x\r\nConnection: close\r\n\r\n`);
      await c.closed;
      return c.text;
    };
    expect(await get('GET /known HTTP/1.1')).toMatch(/content-length: 4\r\n[\s\S]*\r\n\r\nfour$/);
    expect(await get('GET /nolength HTTP/1.1')).toMatch(
      /transfer-encoding: chunked\r\n[\s\S]*\r\n\r\n4\r\nbody\r\n0\r\n\r\n$/,
    );
    expect(await get('GET /stream HTTP/1.1')).toMatch(/\r\n\r\n2\r\nab\r\n2\r\ncd\r\n0\r\nx-t: 1\r\n\r\n$/);
    const head = await get('HEAD /head HTTP/1.1');
    expect(head).toMatch(/content-length: 10\r\n/);
    expect(head.endsWith('\r\n\r\n')).toBe(true);
    const noContent = await get('GET /204 HTTP/1.1');
    expect(noContent).toMatch(/^HTTP\/1\.1 204 No Content\r\n/);
    expect(noContent).not.toMatch(/ignored|content-length|transfer-encoding/);
    const old = await get('GET /stream HTTP/1.0');
    expect(old).not.toMatch(/transfer-encoding/);
    expect(old).toMatch(/\r\nconnection: close\r\n\r\nabcd$/);
  });

  it('resets the connection rather than send a body longer or shorter than its content-length', async () => {
    const { port } = await serve((req, res) => {
      res.setHeader('content-length', 4);
      if (req.url === '/long') res.write(Buffer.from('toolong'));
      else res.end(Buffer.from('ab'));
    });
    for (const path of ['/long', '/short']) {
      const c = new RawClient(port);
      c.send(`GET ${path} HTTP/1.1\r\nHost: x\r\n\r\n`);
      await c.closed;
      expect(c.text).not.toMatch(/toolong/);
      // Either nothing left at all, or a head and fewer bytes than it promised.
      expect((c.text.split('\r\n\r\n')[1] ?? '').length).toBeLessThan(4);
    }
  });

  it('answers before the body has arrived, says connection: close when nobody reads the body, and the reply survives', async () => {
    const { port } = await serve((req, res) => {
      req.body.discard();
      res.writeHead(413, { 'content-type': 'text/plain' }).end('too large\n');
    });
    const c = new RawClient(port);
    c.send('POST /up HTTP/1.1\r\nHost: x\r\nContent-Length: 8388608\r\n\r\n');
    c.send(Buffer.alloc(4 * 1024 * 1024)); // still sending when the answer comes
    await c.until((t) => t.endsWith('too large\n'));
    expect(c.text).toMatch(/^HTTP\/1\.1 413 Payload Too Large\r\n/);
    expect(c.text).toMatch(/\r\nconnection: close\r\n/);
    await c.closed;
  });

  it('keeps the connection when an early reply leaves while the body is still read, and serves the next request after it', async () => {
    const { port } = await serve((req, res) => {
      if (req.url === '/early') {
        void readBody(req);
        res.end('early');
      } else res.end('next');
    });
    const c = new RawClient(port);
    c.send('POST /early HTTP/1.1\r\nHost: x\r\nContent-Length: 6\r\n\r\nabc');
    await c.until((t) => t.endsWith('early'));
    expect(c.text).toMatch(/connection: keep-alive/);
    c.send('def');
    c.send('GET /n HTTP/1.1\r\nHost: x\r\n\r\n');
    await c.until((t) => t.endsWith('next'));
    expect(c.responses()).toBe(2);
    c.socket.destroy();
  });

  it('drops the body of a request answered without reading it, and serves the next one on the connection', async () => {
    const { port } = await serve((req, res) => {
      if (req.method === 'POST') res.writeHead(405, { allow: 'GET' }).end();
      else res.end('next');
    });
    const c = new RawClient(port);
    c.send('POST /x HTTP/1.1\r\nHost: x\r\nContent-Length: 1048576\r\n\r\n');
    await c.until((t) => t.includes('405 Method Not Allowed'));
    c.send(Buffer.alloc(1024 * 1024, 1));
    c.send('GET /n HTTP/1.1\r\nHost: x\r\n\r\n');
    await c.until((t) => t.endsWith('next'));
    expect(c.responses()).toBe(2);
    c.socket.destroy();
  });

  it('tells the handler when the client goes away: the body fails and the reply closes unfinished', async () => {
    const seen: { error?: string; finished?: boolean } = {};
    const closed = new Promise<void>((resolve) => {
      void serve((req, res) => {
        req.body.read({ data: () => {}, end: () => {}, error: (err) => (seen.error = err.message) });
        res.on('close', () => {
          seen.finished = res.writableFinished;
          resolve();
        });
      }).then(({ port }) => {
        const c = new RawClient(port);
        c.send('POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\npartial');
        setTimeout(() => c.socket.end(), 50);
      });
    });
    await closed;
    expect(seen.error).toMatch(/before the end of its request body/);
    expect(seen.finished).toBe(false);
  });

  it('closes an idle keep-alive connection after its timeout, and answers 408 to a head that never completes', async () => {
    const { port } = await serve(echo, { keepAliveTimeoutMs: 150, headersTimeoutMs: 300 });
    const idle = new RawClient(port);
    idle.send('GET / HTTP/1.1\r\nHost: x\r\n\r\n');
    await idle.until((t) => t.endsWith('GET / 0'));
    await idle.closed;
    const slow = new RawClient(port);
    slow.send('GET / HTTP/1.1\r\nHost:');
    await slow.closed;
    expect(slow.text).toMatch(/^HTTP\/1\.1 408 Request Timeout\r\n/);
  });

  it('close() stops accepting, closes idle connections and lets a reply in progress finish', async () => {
    let pending: ServerReply | undefined;
    const { port, server } = await serve((req, res) => {
      if (req.url === '/wait') pending = res;
      else res.end('x');
    });
    const idle = new RawClient(port);
    idle.send('GET / HTTP/1.1\r\nHost: x\r\n\r\n');
    await idle.until((t) => t.endsWith('\r\n\r\nx'));
    const busy = new RawClient(port);
    busy.send('GET /wait HTTP/1.1\r\nHost: x\r\n\r\n');
    while (!pending) await new Promise((r) => setTimeout(r, 10));
    let done = false;
    const closing = server.close().then(() => (done = true));
    await idle.closed;
    await expect(
      new Promise((resolve, reject) => connect(port, '127.0.0.1').on('connect', resolve).on('error', reject)),
    ).rejects.toThrow(/ECONNREFUSED/);
    expect(done).toBe(false);
    pending.end('finished');
    await closing;
    expect(busy.text).toMatch(/connection: close\r\n[\s\S]*finished$/);
  });

  it('close() also ends a connection whose keep-alive reply left before it was called, once it is idle', async () => {
    let pending: ServerReply | undefined;
    const { port, server } = await serve((_req, res) => {
      pending = res;
      res.flushHeaders(); // keep-alive said before close() was called
    });
    const c = new RawClient(port);
    c.send('GET / HTTP/1.1\r\nHost: x\r\n\r\n');
    while (!pending) await new Promise((r) => setTimeout(r, 10));
    await c.until((t) => t.includes('connection: keep-alive'));
    const closing = server.close();
    pending.end('done');
    await closing; // well before the 5 s keep-alive timeout (the test would time out otherwise)
    await c.closed;
  });

  it('survives a handler that throws: 500, and the next connection is served', async () => {
    const { port } = await serve((req, res) => {
      if (req.url === '/bug') throw new Error('bug');
      res.end('fine');
    });
    const bug = new RawClient(port);
    bug.send('GET /bug HTTP/1.1\r\nHost: x\r\n\r\n');
    await bug.until((t) => t.endsWith('internal server error\n'));
    expect(bug.text).toMatch(/^HTTP\/1\.1 500 /);
    bug.socket.destroy();
    const res = await new Promise<string>((resolve, reject) =>
      request(`http://127.0.0.1:${port}/ok`, (r) => {
        let body = '';
        r.on('data', (c: Buffer) => (body += c.toString()));
        r.on('end', () => resolve(body));
      })
        .on('error', reject)
        .end(),
    );
    expect(res).toBe('fine');
  });

  it('refuses header names and values that cannot be sent, with the codes node:http uses', async () => {
    const codes: string[] = [];
    const { port } = await serve((_req, res) => {
      for (const [name, value] of [
        ['bad name', 'v'],
        ['x-ok', 'line\nbreak'],
      ] as const) {
        try {
          res.setHeader(name, value);
        } catch (err) {
          codes.push((err as { code: string }).code);
        }
      }
      res.end('ok');
    });
    const c = new RawClient(port);
    c.send('GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
    await c.closed;
    expect(codes).toEqual(['ERR_INVALID_HTTP_TOKEN', 'ERR_INVALID_CHAR']);
    expect(c.text).toMatch(/\r\n\r\nok$/);
  });
});
