import { Readable, type Writable } from 'node:stream';
import { tooLarge, VerifyingStream } from './digest.js';
import type { Descriptor } from './descriptor.js';

/** Reads a (small) stream into memory, failing once it passes `limit` bytes. */
export async function readAll(stream: Readable, limit: number, what: string): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let total = 0;
  for await (const chunk of stream) {
    const buf = Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk as Uint8Array);
    total += buf.length;
    if (total > limit) {
      stream.destroy();
      throw tooLarge(what, limit);
    }
    chunks.push(buf);
  }
  return Buffer.concat(chunks, total);
}

/**
 * Wraps a source in a verifier for `descriptor`; errors of either side surface on the result.
 * `sourceError` may turn a failure of the source itself (a connection that broke off) into a clearer one.
 */
export function verified(
  source: Readable,
  descriptor: Descriptor,
  what: string,
  limit?: number,
  sourceError?: (err: Error, bytesVerified: number) => Error,
): Readable {
  const verifier = new VerifyingStream({ digest: descriptor.digest, size: descriptor.size, limit, what });
  return chain(source, verifier, sourceError && ((err) => sourceError(err, verifier.bytes)));
}

/**
 * `source` piped into `next`, failing together: an error of `source` destroys `next` with it (a bare
 * .pipe() would leave `next` waiting forever, e.g. on a digest mismatch at the source's end), and
 * `next` closing early destroys `source`. The no-op listener keeps an error that happens before the
 * consumer attaches from being uncaught; the consumer still sees it, since an errored stream reports it.
 * Cheaper than pipeline(), which builds an AbortController (and so an AbortError) per call: this runs
 * for every blob.
 */
export function chain<T extends Writable & Readable>(
  source: Readable,
  next: T,
  sourceError: (err: Error) => Error = (err) => err,
): T {
  next.on('error', () => undefined);
  source.on('error', (err) => next.destroy(sourceError(err)));
  source.once('close', () => {
    if (!source.readableEnded && !next.destroyed) next.destroy(new Error('the source closed before its end'));
  });
  next.once('close', () => {
    if (!source.destroyed) source.destroy();
  });
  source.pipe(next);
  return next;
}

export function toReadable(content: Readable | Uint8Array): Readable {
  return content instanceof Uint8Array ? Readable.from([Buffer.from(content)]) : content;
}
