/**
 * Keep-alive connections to the one upstream of a sidecar. A request takes the most recently used idle
 * connection (it is the least likely to have been closed by the upstream meanwhile) or opens one; a
 * connection that finished a clean exchange comes back and is closed after IDLE_MS unused, under the
 * 5 s keep-alive timeout Node's and many other servers use, so the upstream rarely closes one first
 * (when it does, a request that sent no body yet is retried once on a new connection: request.ts).
 */
import { Connection } from './connection.js';
import { UpstreamRequest, type ConnectionSource, type UpstreamRequestOptions } from './request.js';

const IDLE_MS = 4000;
const MAX_IDLE = 256;

export class UpstreamPool implements ConnectionSource {
  private readonly idle: Connection[] = [];
  private readonly all = new Set<Connection>();
  private closed = false;

  constructor(
    private readonly host: string,
    private readonly port: number,
    private readonly socketBufferBytes: number,
  ) {}

  request(options: UpstreamRequestOptions): UpstreamRequest {
    return new UpstreamRequest(this, options);
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
    const connection = new Connection(this.host, this.port, this.socketBufferBytes, (c) => this.gone(c));
    connection.uses = 1;
    connection.socket.on('timeout', () => {
      if (!connection.owner) connection.socket.destroy();
    });
    this.all.add(connection);
    if (this.closed) connection.socket.destroy();
    return connection;
  }

  release(connection: Connection): void {
    if (this.closed || this.idle.length >= MAX_IDLE) {
      connection.socket.destroy();
      return;
    }
    if (connection.socket.isPaused()) connection.socket.resume(); // its last response paused it
    connection.socket.setTimeout(IDLE_MS);
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
