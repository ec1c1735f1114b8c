/** Small filesystem helpers of the module store: hashing a file, writing a small file atomically. */
import { createHash, randomBytes } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { open, rename, rm } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { PARTIAL_MARKER } from '../oci/index.js';

/** sha256 of a file's bytes, as `sha256:<hex>`, streamed (modules can be large). */
export async function sha256File(path: string): Promise<{ digest: string; size: number }> {
  const hash = createHash('sha256');
  let size = 0;
  for await (const chunk of createReadStream(path)) {
    hash.update(chunk as Buffer);
    size += (chunk as Buffer).length;
  }
  return { digest: `sha256:${hash.digest('hex')}`, size };
}

/** Same naming as the OCI client's temporary files, so one start-up sweep removes both kinds. */
export function partialName(file: string): string {
  return join(dirname(file), `.${basename(file)}${PARTIAL_MARKER}${randomBytes(6).toString('hex')}`);
}

/**
 * Writes `data` to `file` through a temporary file and a rename: readers see all or nothing. With
 * `durable` the data is fsynced before the rename. The store's records skip it: a record lost or torn by
 * a power failure only makes its module fail verification at the next start, and so be pulled again.
 */
export async function writeSmallFileAtomic(
  file: string,
  data: string,
  mode = 0o644,
  options: { durable?: boolean } = {},
): Promise<void> {
  const partial = partialName(file);
  try {
    const handle = await open(partial, 'wx', mode);
    try {
      await handle.writeFile(data);
      await handle.chmod(mode);
      if (options.durable) await handle.sync();
    } finally {
      await handle.close();
    }
    await rename(partial, file);
  } catch (err) {
    await rm(partial, { force: true }).catch(() => undefined);
    throw err;
  }
}
