import { createHash, type Hash } from 'node:crypto';
import { Transform, type TransformCallback } from 'node:stream';
import { MeshwasmError } from '../errors.js';

const DIGEST = /^sha256:[a-f0-9]{64}$|^sha512:[a-f0-9]{128}$/;

/** Throws a clear error unless `digest` is `sha256:<64 hex>` (or sha512). */
export function assertDigest(digest: string, where = 'digest'): void {
  if (!DIGEST.test(digest)) {
    throw new MeshwasmError('INVALID_REFERENCE', `${where}: "${digest}" is not a valid digest`, {
      hint: 'a digest looks like sha256: followed by 64 lowercase hex characters',
    });
  }
}

export function isDigest(value: string): boolean {
  return DIGEST.test(value);
}

export function digestHex(digest: string): string {
  return digest.slice(digest.indexOf(':') + 1);
}

export function newHash(digest: string): Hash {
  return createHash(digest.startsWith('sha512:') ? 'sha512' : 'sha256');
}

export function sha256Digest(data: Uint8Array | string): string {
  return `sha256:${createHash('sha256').update(data).digest('hex')}`;
}

export interface VerifyOptions {
  /** expected digest; undefined only computes it (see `digest` after the stream ends) */
  digest?: string;
  /** expected exact size in bytes */
  size?: number;
  /** hard cap in bytes, whatever the size claims */
  limit?: number;
  /** what is being read, for error messages ("blob sha256:... of 127.0.0.1/repo") */
  what: string;
}

/**
 * Looks at content as a VerifyingStream passes it on (see `observe`): each chunk in order, then the end,
 * once size and digest have been checked. A throw from either fails the stream with that error.
 */
export interface ContentObserver {
  update(chunk: Buffer): void;
  end(): void;
}

/**
 * A pass-through stream that hashes and counts what flows through it and fails the stream as soon as
 * the content cannot match: more bytes than expected or allowed, or, at the end, the wrong digest or
 * too few bytes. Consumers therefore never act on unverified content once the stream has ended cleanly.
 */
export class VerifyingStream extends Transform {
  private readonly hash: Hash;
  private readonly expected: VerifyOptions;
  private readonly observers: ContentObserver[] = [];
  bytes = 0;
  digest: string | undefined;

  constructor(options: VerifyOptions) {
    super();
    this.expected = options;
    this.hash = newHash(options.digest ?? 'sha256:');
  }

  /**
   * Has `observer` look at the content here, in this stream's own pass, instead of in a stream of its
   * own behind it: each stream a chunk passes cost ~13 us per chunk in the agent (a third of hashing
   * a 40 KiB chunk). Its end comes after this stream's checks, so a digest mismatch is what is reported.
   */
  observe(observer: ContentObserver): void {
    this.observers.push(observer);
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, callback: TransformCallback): void {
    this.bytes += chunk.length;
    const { size, limit, what } = this.expected;
    if (limit !== undefined && this.bytes > limit) {
      callback(tooLarge(what, limit));
      return;
    }
    if (size !== undefined && this.bytes > size) {
      callback(
        new MeshwasmError(
          'DIGEST_MISMATCH',
          `${what}: received more than the ${size} bytes its descriptor declares`,
        ),
      );
      return;
    }
    this.hash.update(chunk);
    try {
      for (const observer of this.observers) observer.update(chunk);
    } catch (err) {
      callback(err as Error);
      return;
    }
    callback(null, chunk);
  }

  override _flush(callback: TransformCallback): void {
    const { size, digest, what } = this.expected;
    if (size !== undefined && this.bytes !== size) {
      callback(
        new MeshwasmError(
          'DIGEST_MISMATCH',
          `${what}: content ended after ${this.bytes} of ${size} bytes (truncated)`,
          {
            hint: 'the transfer was cut short; retry, and check proxies between you and the registry',
          },
        ),
      );
      return;
    }
    const algorithm = digest?.slice(0, digest.indexOf(':')) ?? 'sha256';
    const actual = `${algorithm}:${this.hash.digest('hex')}`;
    this.digest = actual;
    if (digest !== undefined && actual !== digest) {
      callback(
        new MeshwasmError(
          'DIGEST_MISMATCH',
          `${what}: content digest ${actual} does not match the expected ${digest}`,
          {
            hint: 'the content was corrupted in transit or in storage; nothing was written',
          },
        ),
      );
      return;
    }
    try {
      for (const observer of this.observers) observer.end();
    } catch (err) {
      callback(err as Error);
      return;
    }
    callback();
  }
}

/** A pass-through stream that shows what passes to `observer`: for content no VerifyingStream carries. */
export class ObservingStream extends Transform {
  constructor(private readonly observer: ContentObserver) {
    super();
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, callback: TransformCallback): void {
    try {
      this.observer.update(chunk);
    } catch (err) {
      callback(err as Error);
      return;
    }
    callback(null, chunk);
  }

  override _flush(callback: TransformCallback): void {
    try {
      this.observer.end();
    } catch (err) {
      callback(err as Error);
      return;
    }
    callback();
  }
}

export function tooLarge(what: string, limit: number): MeshwasmError {
  return new MeshwasmError('TOO_LARGE', `${what}: larger than the ${formatBytes(limit)} limit`, {
    hint: 'raise the limit with --max-module-size if this module is really that large',
  });
}

export function formatBytes(n: number): string {
  if (n >= 1024 * 1024 * 1024) return `${(n / 1024 ** 3).toFixed(1)} GiB`;
  if (n >= 1024 * 1024) return `${(n / 1024 ** 2).toFixed(1)} MiB`;
  if (n >= 1024) return `${(n / 1024).toFixed(1)} KiB`;
  return `${n} B`;
}
