import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
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

/** Wraps a source in a verifier for `descriptor`; errors of either side surface on the result. */
export function verified(source: Readable, descriptor: Descriptor, what: string, limit?: number): Readable {
  const verifier = new VerifyingStream({ digest: descriptor.digest, size: descriptor.size, limit, what });
  pipeline(source, verifier).catch((err: unknown) => verifier.destroy(err as Error));
  return verifier;
}

export function toReadable(content: Readable | Uint8Array): Readable {
  return content instanceof Uint8Array ? Readable.from([Buffer.from(content)]) : content;
}
