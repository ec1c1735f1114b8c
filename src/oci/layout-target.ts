import { createReadStream } from 'node:fs';
import { access, mkdir, readFile, writeFile, rename } from 'node:fs/promises';
import { join, resolve as resolvePath } from 'node:path';
import type { Readable } from 'node:stream';
import { MeshwasmError } from '../errors.js';
import type { Descriptor } from './descriptor.js';
import { assertDigest, digestHex, isDigest } from './digest.js';
import { ioError, isNodeError, partialPathFor, writeFileAtomic } from './files.js';
import { declaredMediaType, encodeManifest, MAX_MANIFEST_BYTES, type ImageIndex } from './manifest.js';
import { Annotation, MediaType } from './media-types.js';
import { readAll, toReadable, verified } from './streams.js';
import { openContent, type Content, type Target } from './target.js';
import { VerifyingStream } from './digest.js';

/**
 * An OCI image-layout directory (image-spec "image-layout.md"): `oci-layout`, `index.json`, and
 * `blobs/<alg>/<hex>`. Tags are index.json entries annotated with org.opencontainers.image.ref.name.
 * This is meshwasm's embedded, offline store; ORAS and skopeo read the same directories.
 */
export class LayoutTarget implements Target {
  readonly description: string;
  readonly root: string;
  private indexLock: Promise<unknown> = Promise.resolve();

  constructor(root: string) {
    this.root = resolvePath(root);
    this.description = `oci-layout ${root}`;
  }

  private blobPath(digest: string): string {
    assertDigest(digest);
    return join(this.root, 'blobs', digest.slice(0, digest.indexOf(':')), digestHex(digest));
  }

  async readIndex(): Promise<ImageIndex> {
    let text: string;
    try {
      text = await readFile(join(this.root, 'index.json'), 'utf8');
    } catch (err) {
      if (isNodeError(err) && err.code === 'ENOENT')
        return { schemaVersion: 2, mediaType: MediaType.ociIndex, manifests: [] };
      throw ioError(err, `cannot read ${join(this.root, 'index.json')}`);
    }
    try {
      const index = JSON.parse(text) as ImageIndex;
      if (!Array.isArray(index.manifests)) throw new Error('"manifests" is not an array');
      return index;
    } catch (err) {
      throw new MeshwasmError(
        'INVALID_INPUT',
        `${join(this.root, 'index.json')} is not a valid OCI index: ${(err as Error).message}`,
        {
          hint: 'the directory is not an OCI image layout, or its index.json was damaged',
        },
      );
    }
  }

  async resolve(reference: string): Promise<Descriptor> {
    const index = await this.readIndex();
    if (isDigest(reference)) {
      const listed = index.manifests.find((d) => d.digest === reference);
      if (listed) return stripRefName(listed);
      // An untagged manifest: read its own mediaType field.
      const path = this.blobPath(reference);
      let bytes: Buffer;
      try {
        bytes = await readAll(createReadStream(path), MAX_MANIFEST_BYTES, `manifest ${reference}`);
      } catch (err) {
        if (isNodeError(err) && err.code === 'ENOENT') throw notFound(reference, this.description);
        throw err;
      }
      const mediaType = declaredMediaType(bytes) ?? MediaType.ociManifest;
      return { mediaType, digest: reference, size: bytes.length };
    }
    const tagged = index.manifests.filter((d) => d.annotations?.[Annotation.refName] === reference);
    const last = tagged[tagged.length - 1];
    if (!last) throw notFound(reference, this.description);
    return stripRefName(last);
  }

  async fetch(descriptor: Descriptor): Promise<Readable> {
    const path = this.blobPath(descriptor.digest);
    try {
      await access(path);
    } catch {
      throw notFound(descriptor.digest, this.description);
    }
    return verified(createReadStream(path), descriptor, `blob ${descriptor.digest} in ${this.description}`);
  }

  async exists(descriptor: Descriptor): Promise<boolean> {
    try {
      await access(this.blobPath(descriptor.digest));
      return true;
    } catch {
      return false;
    }
  }

  async push(descriptor: Descriptor, content: Content): Promise<void> {
    await this.ensureLayout();
    const path = this.blobPath(descriptor.digest);
    const verifier = new VerifyingStream({
      digest: descriptor.digest,
      size: descriptor.size,
      what: `blob ${descriptor.digest}`,
    });
    await writeFileAtomic(path, toReadable(await openContent(content)), { through: [verifier], mode: 0o644 });
  }

  async tag(descriptor: Descriptor, reference: string): Promise<void> {
    if (!(await this.exists(descriptor))) {
      throw new MeshwasmError(
        'NOT_FOUND',
        `cannot tag ${reference}: ${descriptor.digest} is not in ${this.description}`,
      );
    }
    await this.updateIndex((index) => {
      const others = index.manifests.filter((d) => d.annotations?.[Annotation.refName] !== reference);
      const entry: Descriptor = {
        mediaType: descriptor.mediaType,
        digest: descriptor.digest,
        size: descriptor.size,
        annotations: { ...stripRefName(descriptor).annotations, [Annotation.refName]: reference },
      };
      return { ...index, manifests: [...others, entry] };
    });
  }

  private async ensureLayout(): Promise<void> {
    try {
      await mkdir(join(this.root, 'blobs', 'sha256'), { recursive: true });
      await writeFile(join(this.root, 'oci-layout'), JSON.stringify({ imageLayoutVersion: '1.0.0' }), {
        flag: 'wx',
      }).catch((err: unknown) => {
        if (!(isNodeError(err) && err.code === 'EEXIST')) throw err;
      });
    } catch (err) {
      throw ioError(err, `cannot create the OCI layout at ${this.root}`);
    }
  }

  /** Serialises index.json read-modify-write within this process and replaces the file atomically. */
  private async updateIndex(change: (index: ImageIndex) => ImageIndex): Promise<void> {
    const run = this.indexLock.then(async () => {
      await this.ensureLayout();
      const next = change(await this.readIndex());
      const file = join(this.root, 'index.json');
      const partial = partialPathFor(file);
      try {
        await writeFile(partial, encodeManifest(next));
        await rename(partial, file);
      } catch (err) {
        throw ioError(err, `cannot write ${file}`);
      }
    });
    this.indexLock = run.catch(() => undefined);
    await run;
  }
}

function stripRefName(d: Descriptor): Descriptor {
  if (!d.annotations || !(Annotation.refName in d.annotations)) return d;
  const { [Annotation.refName]: _drop, ...rest } = d.annotations;
  const copy: Descriptor = { mediaType: d.mediaType, digest: d.digest, size: d.size };
  if (Object.keys(rest).length > 0) copy.annotations = rest;
  return copy;
}

function notFound(reference: string, where: string): MeshwasmError {
  return new MeshwasmError('NOT_FOUND', `${reference}: not found in ${where}`, {
    hint: 'check the tag or digest; `meshwasm push --oci-layout DIR:TAG` stores modules there',
  });
}
