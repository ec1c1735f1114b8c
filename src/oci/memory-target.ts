import type { Readable } from 'node:stream';
import { MeshwasmError } from '../errors.js';
import type { Descriptor } from './descriptor.js';
import { isDigest } from './digest.js';
import { readAll, toReadable, verified } from './streams.js';
import { openContent, type Content, type Target } from './target.js';

/** Content held in memory: for tests, and as a staging area in copies. */
export class MemoryTarget implements Target {
  readonly description = 'memory';
  private readonly blobs = new Map<string, Buffer>();
  private readonly tags = new Map<string, Descriptor>();
  private readonly descriptors = new Map<string, Descriptor>();

  async resolve(reference: string): Promise<Descriptor> {
    const found = isDigest(reference) ? this.descriptors.get(reference) : this.tags.get(reference);
    if (!found) throw new MeshwasmError('NOT_FOUND', `${reference}: not found in memory store`);
    return found;
  }

  async fetch(descriptor: Descriptor): Promise<Readable> {
    const bytes = this.blobs.get(descriptor.digest);
    if (!bytes) throw new MeshwasmError('NOT_FOUND', `${descriptor.digest}: not found in memory store`);
    return verified(toReadable(bytes), descriptor, `blob ${descriptor.digest}`);
  }

  async exists(descriptor: Descriptor): Promise<boolean> {
    return this.blobs.has(descriptor.digest);
  }

  async push(descriptor: Descriptor, content: Content): Promise<void> {
    const stream = verified(toReadable(await openContent(content)), descriptor, `blob ${descriptor.digest}`);
    const bytes = await readAll(stream, Number.MAX_SAFE_INTEGER, `blob ${descriptor.digest}`);
    this.blobs.set(descriptor.digest, bytes);
    this.descriptors.set(descriptor.digest, descriptor);
  }

  async tag(descriptor: Descriptor, reference: string): Promise<void> {
    if (!this.blobs.has(descriptor.digest)) {
      throw new MeshwasmError(
        'NOT_FOUND',
        `cannot tag ${reference}: ${descriptor.digest} is not in the memory store`,
      );
    }
    this.tags.set(reference, descriptor);
  }
}
