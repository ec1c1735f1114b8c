/**
 * Buffers of our own for a socket's reads (net's `onread`), instead of Node's fixed 64 KiB ones: a fast
 * peer fills a 1 MiB buffer per read, so a large body costs a few hundred reads and body callbacks
 * instead of thousands (this, not the parsing, is what node:http costs on a large body). Used by the
 * client's connections (connection.ts) and the server's (server.ts).
 *
 * A read is handed on as a view of the buffer it went into, and the next read goes into the rest of
 * that buffer (a slab, carved read by read) until too little is left: a peer that writes in 32-64 KiB
 * pieces (docker-registry does) costs neither a copy per read nor a buffer per read.
 */
const SMALL_READ = 64 * 1024;
const LARGE_READ = 1024 * 1024;
/** Reads smaller than this are copied out, so a request head never pins a slab while it is parsed. */
const COPY_BELOW = 16 * 1024;
/**
 * The rest of a slab is handed out for the next read while it holds at least this much and two more
 * reads the size of the last: a peer fast enough to fill large reads gets a fresh slab each time, not
 * ever smaller tails (more reads for the same bytes).
 */
const MIN_REST = 32 * 1024;

export class ReadBuffer {
  /**
   * What the next `buffer()` call hands the socket. The socket asks for it after each read, so a
   * read lands in the buffer handed out before it: `take` is told which one (onread's second
   * argument), never assumes it is `current`.
   */
  current: Buffer = Buffer.allocUnsafe(SMALL_READ);

  /**
   * The `n` bytes just read into `read`: copied out when they are few (`read` is handed out again),
   * else a view of `read`, and the rest of `read` is handed out next while enough of it is left (see
   * MIN_REST). A fresh slab is a large one after a read of half a small buffer or more (a streaming
   * peer), a small one otherwise.
   */
  take(n: number, read: Buffer): Buffer {
    // (`current` differs from `read` when shrink() replaced it meanwhile: it was never handed out.)
    const shrunk = this.current !== read;
    if (n < COPY_BELOW) {
      const chunk = Buffer.allocUnsafe(n);
      read.copy(chunk, 0, 0, n);
      if (!shrunk) this.current = read;
      return chunk;
    }
    const chunk = read.subarray(0, n);
    if (!shrunk) {
      const rest = read.subarray(n);
      this.current =
        rest.length >= Math.max(MIN_REST, 2 * n)
          ? rest
          : Buffer.allocUnsafe(n >= SMALL_READ / 2 ? LARGE_READ : SMALL_READ);
    }
    return chunk;
  }

  /** The socket goes idle: a large buffer is given back (a small one is handed out after the next read). */
  shrink(): void {
    // (the rest of a large slab pins all of it, however little is left)
    if (this.current.buffer.byteLength > SMALL_READ) this.current = Buffer.allocUnsafe(SMALL_READ);
  }
}
