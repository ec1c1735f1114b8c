import type { Descriptor } from './descriptor.js';
import { isDigest } from './digest.js';
import { MAX_MANIFEST_BYTES, parseManifest } from './manifest.js';
import { isManifestMediaType } from './media-types.js';
import { readAll } from './streams.js';
import type { Target } from './target.js';

export interface CopyOptions {
  /** blobs transferred at once (default 3, as ORAS) */
  concurrency?: number;
  onBlob?: (descriptor: Descriptor, outcome: 'copied' | 'skipped' | 'mounted') => void;
}

export interface CopyResult {
  descriptor: Descriptor;
  copied: number;
  skipped: number;
  mounted: number;
  bytes: number;
}

/**
 * Copies the graph a reference names from one store to another: children before parents (so a store
 * never holds a manifest whose blobs are missing), blobs that exist skipped, blobs mounted across
 * repositories of the same registry, at most `concurrency` transfers at once. Tags `dstReference`.
 */
export async function copy(
  src: Target,
  srcReference: string,
  dst: Target,
  dstReference: string,
  options: CopyOptions = {},
): Promise<CopyResult> {
  const root = await src.resolve(srcReference);
  const result: CopyResult = { descriptor: root, copied: 0, skipped: 0, mounted: 0, bytes: 0 };
  const limit = semaphore(options.concurrency ?? 3);
  const done = new Map<string, Promise<void>>();

  const copyNode = (descriptor: Descriptor): Promise<void> => {
    let task = done.get(descriptor.digest);
    if (!task) {
      task = isManifestMediaType(descriptor.mediaType)
        ? copyManifest(descriptor)
        : limit(() => copyBlob(descriptor));
      done.set(descriptor.digest, task);
    }
    return task;
  };

  const copyManifest = async (descriptor: Descriptor): Promise<void> => {
    const bytes = await readAll(
      await src.fetch(descriptor),
      MAX_MANIFEST_BYTES,
      `manifest ${descriptor.digest}`,
    );
    const parsed = parseManifest(bytes, descriptor.mediaType, `manifest ${descriptor.digest}`);
    const children =
      parsed.kind === 'index' ? parsed.index.manifests : [parsed.manifest.config, ...parsed.manifest.layers];
    await Promise.all(children.map(copyNode));
    if (await dst.exists(descriptor)) {
      result.skipped++;
      return;
    }
    await dst.push(descriptor, bytes);
    result.copied++;
  };

  const copyBlob = async (descriptor: Descriptor): Promise<void> => {
    if (await dst.exists(descriptor)) {
      result.skipped++;
      options.onBlob?.(descriptor, 'skipped');
      return;
    }
    if (
      dst.mount &&
      src.repository &&
      src.storeId &&
      src.storeId === dst.storeId &&
      src.repository !== dst.repository
    ) {
      if (await dst.mount(descriptor, src.repository)) {
        result.mounted++;
        options.onBlob?.(descriptor, 'mounted');
        return;
      }
    }
    await dst.push(descriptor, () => src.fetch(descriptor));
    result.copied++;
    result.bytes += descriptor.size;
    options.onBlob?.(descriptor, 'copied');
  };

  await copyNode(root);
  if (!isDigest(dstReference)) await dst.tag(root, dstReference);
  return result;
}

/** At most `n` of the returned function's tasks run at once. */
export function semaphore(n: number): <T>(task: () => Promise<T>) => Promise<T> {
  let active = 0;
  const waiting: (() => void)[] = [];
  return async <T>(task: () => Promise<T>): Promise<T> => {
    if (active >= n) await new Promise<void>((resolve) => waiting.push(resolve));
    active++;
    try {
      return await task();
    } finally {
      active--;
      waiting.shift()?.();
    }
  };
}
