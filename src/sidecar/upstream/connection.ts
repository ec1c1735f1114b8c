/**
 * One TCP connection to the upstream, read into buffers of our own (net's `onread`) rather than Node's
 * fixed 64 KiB ones: a fast upstream fills a 1 MiB buffer per read, so a large body costs a few hundred
 * reads, writes and body callbacks instead of thousands (this, not the parsing, is what node:http's
 * client costs on a large download). What was read goes to the connection's current owner (the request
 * it carries), or closes the connection if it arrives while it is idle.
 */
import { connect, type Socket } from 'node:net';

const SMALL_READ = 64 * 1024;
const LARGE_READ = 1024 * 1024;

/** What the connection reports to the request it carries. */
export interface ConnectionOwner {
  onData(chunk: Buffer): void;
  /** The upstream ended its side (EOF). */
  onEnd(): void;
  /** The socket closed under the request (`err`: why, if it failed). */
  onClose(err: Error | undefined): void;
}

export class Connection {
  readonly socket: Socket;
  owner: ConnectionOwner | undefined;
  /** Requests this connection has carried (a reused one may have been closed by the upstream meanwhile). */
  uses = 0;
  /** Where the next read goes; handed out or reused after each read (see onRead). */
  private buffer: Buffer = Buffer.allocUnsafe(SMALL_READ);

  constructor(host: string, port: number, socketBufferBytes: number, onGone: (c: Connection) => void) {
    // (net.Socket hands highWaterMark to its Duplex; @types/node does not list it for connect.)
    const options = {
      host,
      port,
      noDelay: true,
      highWaterMark: socketBufferBytes,
      onread: { buffer: () => this.buffer, callback: (n: number) => this.onRead(n) },
    };
    this.socket = connect(options);
    this.socket.on('end', () => {
      if (this.owner) this.owner.onEnd();
      else this.socket.destroy();
    });
    let failure: Error | undefined;
    this.socket.on('error', (err) => (failure = err)); // reported with 'close', to the owner
    this.socket.on('close', () => {
      onGone(this);
      const owner = this.owner;
      this.owner = undefined;
      owner?.onClose(failure);
    });
  }

  /**
   * The bytes are handed to the owner as a view of the read buffer when they fill a good part of it
   * (a fresh buffer takes its place), or copied out when they are few, so a small read never pins a
   * large buffer while it waits in a write queue (at most 4x the bytes are held). Reads that fill more
   * than the small buffer switch to large buffers; small ones switch back.
   */
  private onRead(n: number): boolean {
    const read = this.buffer;
    let chunk: Buffer;
    let reusable: Buffer | undefined;
    if (n * 4 < read.length) {
      chunk = Buffer.allocUnsafe(n);
      read.copy(chunk, 0, 0, n);
      reusable = read;
    } else chunk = read.subarray(0, n);
    const size = n >= SMALL_READ ? LARGE_READ : SMALL_READ;
    this.buffer = reusable?.length === size ? reusable : Buffer.allocUnsafe(size);
    if (this.owner) this.owner.onData(chunk);
    else this.socket.destroy(); // nothing may arrive between two responses
    return true;
  }
}
