/**
 * Keep-alive connections to one server (one endpoint). A request takes the most recently used idle
 * connection (it is the least likely to have been closed by the server meanwhile) or opens one; a
 * connection that finished a clean exchange comes back and is closed after `idleMs` unused, best kept
 * under the server's own keep-alive timeout (5 s for Node's and many other servers), so the server
 * rarely closes one first. When it does, a request that sent no body yet is retried once on a new
 * connection (request.ts).
 */
import { Connection, type Endpoint } from './connection.js';
import { Http1Request, type ConnectionSource, type Http1RequestOptions } from './request.js';

export interface PoolOptions {
  /** who the server is, for messages (default "the server") */
  peer?: string;
  /** socket buffer (highWaterMark) of each connection */
  socketBufferBytes: number;
  /** an unused connection is closed after this long (default 4 s) */
  idleMs?: number;
  /** idle connections kept at most (default 256) */
  maxIdle?: number;
}

export class Http1Pool implements ConnectionSource {
  private readonly idle: Connection[] = [];
  private readonly all = new Set<Connection>();
  private closed = false;
  readonly peer: string;

  constructor(
    private readonly endpoint: Endpoint,
    private readonly options: PoolOptions,
  ) {
    this.peer = options.peer ?? 'the server';
  }

  request(options: Http1RequestOptions): Http1Request {
    return new Http1Request(this, options);
  }

  /** Connections open now, idle ones included (for tests of reuse). */
  get size(): number {
    return this.all.size;
  }

  acquire(fresh: boolean): Connection {
    while (!fresh && this.idle.length > 0) {
      const connection = this.idle.pop()!;
      if (connection.socket.destroyed) continue;
      connection.socket.setTimeout(0);
      connection.socket.ref();
      connection.uses++;
      return connection;
    }
    const connection = new Connection(this.endpoint, this.options.socketBufferBytes, (c) => this.gone(c));
    connection.uses = 1;
    this.all.add(connection);
    if (this.closed) connection.socket.destroy();
    return connection;
  }

  release(connection: Connection): void {
    if (this.closed || this.idle.length >= (this.options.maxIdle ?? 256)) {
      connection.socket.destroy();
      return;
    }
    if (connection.socket.isPaused()) connection.socket.resume(); // its last response paused it
    connection.idle();
    connection.socket.setTimeout(this.options.idleMs ?? 4000);
    connection.socket.unref(); // an idle connection never keeps the process alive
    this.idle.push(connection);
  }

  destroy(): void {
    this.closed = true;
    for (const connection of this.all) connection.socket.destroy();
  }

  private gone(connection: Connection): void {
    this.all.delete(connection);
    const at = this.idle.indexOf(connection);
    if (at >= 0) this.idle.splice(at, 1);
  }
}
