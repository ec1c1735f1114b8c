/**
 * Buffers of our own for a socket's reads (net's `onread`), instead of Node's fixed 64 KiB ones: a fast
 * peer fills a 1 MiB buffer per read, so a large body costs a few hundred reads and body callbacks
 * instead of thousands (this, not the parsing, is what node:http costs on a large body). Used by the
 * client's connections (connection.ts) and the server's (server.ts).
 */
const SMALL_READ = 64 * 1024;
const LARGE_READ = 1024 * 1024;

export class ReadBuffer {
  /**
   * What the next `buffer()` call hands the socket. The socket asks for it after each read, so a
   * read lands in the buffer handed out before it: `take` is told which one (onread's second
   * argument), never assumes it is `current`.
   */
  current: Buffer = Buffer.allocUnsafe(SMALL_READ);

  /**
   * The `n` bytes just read into `read`, as a view of it when they fill a good part of it (a fresh
   * buffer is handed out next), or copied out when they are few, so a small read never pins a large
   * buffer while it waits in a write queue (at most 4x the bytes are held); `read` is then handed out
   * again. Reads that fill more than the small buffer switch to large buffers; small ones switch back.
   */
  take(n: number, read: Buffer): Buffer {
    let chunk: Buffer;
    let reusable: Buffer | undefined;
    if (n * 4 < read.length) {
      chunk = Buffer.allocUnsafe(n);
      read.copy(chunk, 0, 0, n);
      reusable = read;
    } else chunk = read.subarray(0, n);
    const size = n >= SMALL_READ ? LARGE_READ : SMALL_READ;
    // (`current` differs from `read` when shrink() replaced it meanwhile: it was never handed out.)
    const spare = reusable ?? (this.current !== read ? this.current : undefined);
    this.current = spare?.length === size ? spare : Buffer.allocUnsafe(size);
    return chunk;
  }

  /** The socket goes idle: a large buffer is given back (a small one is handed out after the next read). */
  shrink(): void {
    if (this.current.length > SMALL_READ) this.current = Buffer.allocUnsafe(SMALL_READ);
  }
}
