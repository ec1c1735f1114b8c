import { randomBytes } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { chmod, mkdir, open, rename, rm } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import type { Readable, Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { MeshwasmError } from '../errors.js';

/** Marker in the names of files being written; cleaners may delete any file whose name has it. */
export const PARTIAL_MARKER = '.partial-';

/** `.<name>.partial-<random>` in the same directory as `file`, so the final rename is atomic. */
export function partialPathFor(file: string): string {
  return join(dirname(file), `.${basename(file)}${PARTIAL_MARKER}${randomBytes(6).toString('hex')}`);
}

/**
 * Writes a stream to `file` atomically: into a temporary file beside it, fsync, then rename. On any
 * failure the temporary file is removed and `file` is untouched, so readers only ever see complete files.
 */
export async function writeFileAtomic(
  file: string,
  source: Readable,
  options: { mode?: number; through?: Transform[]; signal?: AbortSignal } = {},
): Promise<void> {
  const dir = dirname(file);
  try {
    await mkdir(dir, { recursive: true });
  } catch (err) {
    throw ioError(err, `cannot create directory ${dir}`);
  }
  const partial = partialPathFor(file);
  try {
    // A large buffer lets the stream batch the network's small chunks into few writev calls.
    const out = createWriteStream(partial, {
      mode: options.mode ?? 0o644,
      flags: 'wx',
      highWaterMark: 1 << 20,
    });
    const stages = [source, ...(options.through ?? []), out] as const;
    await (pipeline as (...args: unknown[]) => Promise<void>)(...stages, { signal: options.signal });
    const handle = await open(partial, 'r');
    try {
      await handle.sync();
    } finally {
      await handle.close();
    }
    // The process umask narrows the mode given at creation; readers (sidecars) need exactly this one.
    if (options.mode !== undefined) await chmod(partial, options.mode);
    await rename(partial, file);
  } catch (err) {
    await rm(partial, { force: true }).catch(() => undefined);
    if (err instanceof MeshwasmError) throw err;
    if (isNodeError(err) && err.code === 'ABORT_ERR') throw err;
    throw ioError(err, `cannot write ${file}`);
  }
  await syncDirectory(dir);
}

/** fsync a directory so a rename in it survives a crash (best effort: not every filesystem allows it). */
async function syncDirectory(dir: string): Promise<void> {
  try {
    const handle = await open(dir, 'r');
    try {
      await handle.sync();
    } finally {
      await handle.close();
    }
  } catch {
    // Directories cannot be fsynced on some platforms; the rename is still atomic.
  }
}

export function isNodeError(err: unknown): err is NodeJS.ErrnoException {
  return err instanceof Error && 'code' in err;
}

export function ioError(err: unknown, what: string): MeshwasmError {
  const code = isNodeError(err) ? err.code : undefined;
  const hints: Record<string, string> = {
    EACCES: 'check the permissions of the directory (or run with a user that may write there)',
    EPERM: 'check the permissions of the directory (or run with a user that may write there)',
    EROFS: 'the filesystem is mounted read-only; choose a writable directory',
    ENOSPC: 'the disk is full; free space or choose another directory',
    ENOENT: 'check that the path exists',
    ENOTDIR: 'a component of the path is a file, not a directory',
  };
  return new MeshwasmError('IO', `${what}: ${(err as Error).message}`, {
    hint: (code && hints[code]) ?? undefined,
    cause: err,
  });
}
