import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import { basename, dirname, join } from 'node:path';
import type { Readable, Transform } from 'node:stream';
import { promisify } from 'node:util';
import { MeshwasmError } from '../errors.js';
import { chain } from './streams.js';

/** Marker in the names of files being written; cleaners may delete any file whose name has it. */
export const PARTIAL_MARKER = '.partial-';

/** `.<name>.partial-<random>` in the same directory as `file`, so the final rename is atomic. */
export function partialPathFor(file: string): string {
  return join(dirname(file), `.${basename(file)}${PARTIAL_MARKER}${randomBytes(6).toString('hex')}`);
}

/** Bytes gathered from the source before they are written (see drainInto). */
const WRITE_BATCH_BYTES = 1 << 20;

/*
 * Every filesystem call is a round trip through libuv's thread pool, so a file costs as few as possible:
 * open, a writev per MiB, fsync, close, rename, and a share of a directory fsync. The calls stay
 * asynchronous on purpose: next to the fsyncs of parallel pulls, even an open() or a rename() can wait
 * for a journal commit, and the event loop (health probes, watches) must not wait with it.
 */
const openAsync = promisify(fs.open);
const closeAsync = promisify(fs.close);
const renameAsync = promisify(fs.rename);
const fchmodAsync = promisify(fs.fchmod);
const writevAsync = promisify(fs.writev);
const fsyncAsync = promisify(fs.fsync);
const fdatasyncAsync = promisify(fs.fdatasync);

/**
 * Writes a stream to `file` atomically: into a temporary file beside it, fsync, then rename. On any
 * failure the temporary file is removed and `file` is untouched, so readers only ever see complete files.
 * The network's small chunks are batched into few writev calls; the directory fsync after the rename is
 * shared by the writes that finish together.
 */
export async function writeFileAtomic(
  file: string,
  source: Readable,
  options: {
    mode?: number;
    through?: Transform[];
    signal?: AbortSignal;
    /** told once every byte is read and handed to the disk, before the fsync (the slow part on a disk) */
    onReceived?: () => void;
    /** awaited once every byte is written, before the file is made durable: a rejection discards it */
    beforeCommit?: () => Promise<void>;
  } = {},
): Promise<void> {
  const mode = options.mode ?? 0o644;
  const partial = partialPathFor(file);
  let input = source;
  for (const stage of options.through ?? []) input = chain(input, stage);
  const onAbort = () => input.destroy(abortError(options.signal));
  options.signal?.addEventListener('abort', onAbort, { once: true });
  let fd: number | undefined;
  try {
    if (options.signal?.aborted) throw abortError(options.signal);
    fd = await openExclusive(partial, mode);
    await drainInto(fd, input);
    options.onReceived?.();
    await options.beforeCommit?.();
    if (umaskNarrows(mode)) await fchmodAsync(fd, mode);
    await fsyncAsync(fd);
    await closeAsync(fd);
    fd = undefined;
    await renameAsync(partial, file);
  } catch (err) {
    input.destroy();
    await discard(partial, fd);
    if (err instanceof MeshwasmError) throw err;
    if (isNodeError(err) && err.code === 'ABORT_ERR') throw err;
    throw ioError(err, `cannot write ${file}`);
  } finally {
    options.signal?.removeEventListener('abort', onAbort);
  }
  await syncDirectory(dirname(file));
}

/**
 * Writes a small file atomically (temporary file, rename). With `durable` the data is fsynced before the
 * rename and the directory after it; without, a power failure may lose the file but never tear it.
 */
export async function writeSmallFileAtomic(
  file: string,
  data: string | Uint8Array,
  options: { mode?: number; durable?: boolean } = {},
): Promise<void> {
  const mode = options.mode ?? 0o644;
  const partial = partialPathFor(file);
  let fd: number | undefined;
  try {
    fd = await openExclusive(partial, mode);
    await writeAll(fd, [
      typeof data === 'string'
        ? Buffer.from(data)
        : Buffer.from(data.buffer, data.byteOffset, data.byteLength),
    ]);
    if (umaskNarrows(mode)) await fchmodAsync(fd, mode);
    if (options.durable) await fsyncAsync(fd);
    await closeAsync(fd);
    fd = undefined;
    await renameAsync(partial, file);
  } catch (err) {
    await discard(partial, fd);
    throw err;
  }
  if (options.durable) await syncDirectory(dirname(file));
}

/** Creates `path` (which must not exist), creating its directory first if that is what is missing. */
async function openExclusive(path: string, mode: number): Promise<number> {
  try {
    return await openAsync(path, 'wx', mode);
  } catch (err) {
    if (!isNodeError(err) || err.code !== 'ENOENT') throw err;
  }
  const dir = dirname(path);
  try {
    await fs.promises.mkdir(dir, { recursive: true });
  } catch (err) {
    throw ioError(err, `cannot create directory ${dir}`);
  }
  return await openAsync(path, 'wx', mode);
}

/** Closes and deletes a temporary file after a failure (best effort: the start-up sweep gets the rest). */
async function discard(partial: string, fd: number | undefined): Promise<void> {
  if (fd !== undefined) await closeAsync(fd).catch(() => undefined);
  await fs.promises.rm(partial, { force: true }).catch(() => undefined);
}

/**
 * Written bytes after which a drain starts flushing them to the disk (fdatasync) while it goes on
 * reading, so the fsync that makes the file durable finds little left to write: that wait, ~20 ms for a
 * 32 MiB pull here, otherwise comes after the last byte arrived. Smaller files are not flushed early.
 */
const EARLY_FLUSH_BYTES = 8 << 20;

/**
 * Reads `source` to its end and writes it in batches of about WRITE_BATCH_BYTES, each batch one writev
 * overlapping the reading of the next. A 1 MiB module costs one or two writes, not one per network
 * chunk; memory stays at two batches whatever the size. Large files are flushed as they go (see
 * EARLY_FLUSH_BYTES); the caller's fsync still follows.
 */
async function drainInto(fd: number, source: Readable): Promise<void> {
  let batch: Buffer[] = [];
  let batchBytes = 0;
  let failure: { error: unknown } | undefined;
  let writing: Promise<void> = Promise.resolve();
  let unflushed = 0;
  let flushing: Promise<void> | undefined;
  const write = (buffers: Buffer[], bytes: number) =>
    writeAll(fd, buffers).then(
      () => {
        unflushed += bytes;
        if (unflushed >= EARLY_FLUSH_BYTES && !flushing) {
          unflushed = 0;
          // Best effort: the fsync after the drain reports what matters.
          flushing = fdatasyncAsync(fd).then(
            () => void (flushing = undefined),
            () => void (flushing = undefined),
          );
        }
      },
      (error: unknown) => {
        failure ??= { error };
      },
    );
  try {
    for await (const chunk of source) {
      batch.push(chunk as Buffer);
      batchBytes += (chunk as Buffer).length;
      if (batchBytes >= WRITE_BATCH_BYTES) {
        await writing;
        if (failure) break;
        writing = write(batch, batchBytes);
        batch = [];
        batchBytes = 0;
      }
    }
  } finally {
    // Never leave a write or a flush running behind a failed read: the caller closes the file next.
    await writing;
    await flushing;
  }
  if (!failure && batch.length > 0) await write(batch, batchBytes);
  await flushing;
  if (failure) throw failure.error;
}

/** writev until every byte is written (a write may be short, e.g. when interrupted by a signal). */
async function writeAll(fd: number, buffers: Buffer[]): Promise<void> {
  let rest = buffers.filter((b) => b.length > 0);
  while (rest.length > 0) {
    let written = (await writevAsync(fd, rest)).bytesWritten;
    if (written === 0) throw new Error('the disk accepted no bytes');
    while (rest.length > 0 && written >= rest[0]!.length) {
      written -= rest[0]!.length;
      rest = rest.slice(1);
    }
    if (written > 0) rest = [rest[0]!.subarray(written), ...rest.slice(1)];
  }
}

function abortError(signal: AbortSignal | undefined): Error {
  return Object.assign(new Error('the write was aborted'), {
    code: 'ABORT_ERR',
    name: 'AbortError',
    cause: signal?.reason,
  });
}

/**
 * The process umask, read once from /proc (reading it through process.umask() briefly sets it to 0,
 * racing with files other threads create). Unknown elsewhere: then every file is chmod'ed.
 */
const UMASK: number | undefined = (() => {
  try {
    const line = /^Umask:\s*([0-7]+)$/m.exec(fs.readFileSync('/proc/self/status', 'utf8'));
    return line ? parseInt(line[1]!, 8) : undefined;
  } catch {
    return undefined;
  }
})();

/** Whether a file created with `mode` ends up with fewer permissions (readers need exactly `mode`). */
function umaskNarrows(mode: number): boolean {
  return UMASK === undefined || (mode & UMASK) !== 0;
}

/**
 * fsync a directory so the renames in it survive a crash. Concurrent callers share one fsync: a caller
 * waits for the next fsync that starts after its call (so after its rename), which serves everyone
 * who called while the previous one ran. Best effort: not every filesystem allows it.
 */
const directorySyncs = new Map<string, { running: Promise<void>; next?: Promise<void> }>();

export function syncDirectory(dir: string): Promise<void> {
  const state = directorySyncs.get(dir);
  if (!state) return startDirectorySync(dir);
  state.next ??= state.running.then(() => startDirectorySync(dir));
  return state.next;
}

function startDirectorySync(dir: string): Promise<void> {
  const running = fsyncDirectory(dir).finally(() => {
    const state = directorySyncs.get(dir);
    if (state?.running === running && !state.next) directorySyncs.delete(dir);
  });
  directorySyncs.set(dir, { running });
  return running;
}

async function fsyncDirectory(dir: string): Promise<void> {
  let fd: number | undefined;
  try {
    fd = await openAsync(dir, 'r');
    await fsyncAsync(fd);
  } catch {
    // Directories cannot be fsynced on some platforms; the rename is still atomic.
  } finally {
    if (fd !== undefined) await closeAsync(fd).catch(() => undefined);
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
