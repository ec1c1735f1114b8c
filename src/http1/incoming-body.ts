/**
 * A body arriving from the other side of a connection, as its reader takes it (BodySource): the pieces
 * each socket read decoded, with the end reported in the same turn as the last piece when it came in
 * the same read. Pieces wait (and the socket stops reading) until someone reads or while the reader has
 * paused, so nothing is lost while a filter holds the headers. A server's response (response.ts) and a
 * client's request (server.ts) both arrive this way.
 */
import type { BodyHandlers, BodySource } from './body.js';

export interface FlowControl {
  pause(): void;
  resume(): void;
}

export class IncomingBody implements BodySource {
  rawTrailers: string[] = [];
  /** Told when the body fails after the head (the peer went away mid-body): for the log. */
  onFail: ((err: Error) => void) | undefined;
  private handlers: BodyHandlers | undefined;
  private readonly queue: Uint8Array[] = [];
  private ended = false;
  private failure: Error | undefined;
  private paused = false;
  private socketStopped = false;
  private finished = false;
  private dropped = false;

  constructor(private readonly flow: FlowControl) {}

  read(handlers: BodyHandlers): void {
    this.handlers = handlers;
    this.resume();
  }

  pause(): void {
    this.paused = true;
    this.stopSocket();
  }

  resume(): void {
    this.paused = false;
    this.deliver();
    // Only a socket this body stopped is started again: resuming a reading socket is not free.
    if (!this.paused && !this.finished && this.socketStopped) {
      this.socketStopped = false;
      this.flow.resume();
    }
  }

  private stopSocket(): void {
    if (this.socketStopped) return;
    this.socketStopped = true;
    this.flow.pause();
  }

  /** Someone reads (or read) the body. */
  get hasReader(): boolean {
    return this.handlers !== undefined || this.finished;
  }

  /** The reader gave up on the body before its end (discard). */
  get abandoned(): boolean {
    return this.dropped;
  }

  /** Nothing more is wanted: pieces are dropped from now on. */
  discard(): void {
    if (!this.finished) this.dropped = true;
    this.handlers = undefined;
    this.queue.length = 0;
    this.finished = true;
  }

  /** From the reader: the pieces of one read, and whether the body ended with them. */
  push(pieces: Uint8Array[], end: boolean): void {
    if (this.finished) return;
    for (const piece of pieces) if (piece.length > 0) this.queue.push(piece);
    if (end) this.ended = true;
    this.deliver();
    // Once the body has ended there is nothing of it left to hold back (the connection's next bytes are not its).
    if ((this.paused || !this.handlers) && !this.ended) this.stopSocket();
  }

  fail(err: Error): void {
    if (this.finished || this.ended) return;
    this.failure = err;
    this.onFail?.(err);
    this.deliver();
  }

  private deliver(): void {
    const h = this.handlers;
    if (!h || this.finished) return;
    while (this.queue.length > 0 && !this.paused && this.handlers === h) h.data(this.queue.shift()!);
    if (this.queue.length > 0 || this.handlers !== h || this.finished) return;
    if (this.ended) {
      this.finished = true;
      h.end();
    } else if (this.failure) {
      this.finished = true;
      h.error(this.failure);
    }
  }
}
