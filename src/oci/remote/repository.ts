import type { Readable } from 'node:stream';
import { MeshwasmError } from '../../errors.js';
import type { Descriptor } from '../descriptor.js';
import { isDigest, sha256Digest, VerifyingStream } from '../digest.js';
import { declaredMediaType, MAX_MANIFEST_BYTES, parseManifest } from '../manifest.js';
import { isManifestMediaType, manifestMediaTypes, MediaType } from '../media-types.js';
import { chain, readAll, toReadable, verified } from '../streams.js';
import { openContent, type Content, type Target } from '../target.js';
import type { RegistryClient } from './client.js';
import type { HttpResponse } from './transport.js';

export interface RepositoryOptions {
  /** upload blobs larger than this in PATCH chunks of this size; default: one monolithic PUT */
  chunkSize?: number;
}

const ACCEPT_MANIFESTS = manifestMediaTypes.join(', ');

/** A repository in a remote registry, spoken to through the OCI distribution API. */
export class RemoteRepository implements Target {
  readonly description: string;
  readonly repository: string;
  readonly storeId: string;
  private readonly client: RegistryClient;
  private readonly options: RepositoryOptions;
  /** manifests pushed by this process, so tag() need not download them again */
  private readonly pushedManifests = new Map<string, Buffer>();
  /** small manifests just read by resolve(digest), for the fetch that follows it */
  private readonly resolvedManifests = new Map<string, Buffer>();

  constructor(client: RegistryClient, repository: string, options: RepositoryOptions = {}) {
    this.client = client;
    this.repository = repository;
    this.options = options;
    this.storeId = `registry:${client.baseUrl}`;
    this.description = `${client.registry}/${repository}`;
  }

  private get pull(): string[] {
    return [`repository:${this.repository}:pull`];
  }

  private get pushScopes(): string[] {
    return [`repository:${this.repository}:pull,push`];
  }

  /**
   * A tag is resolved with a HEAD (registries such as Docker Hub do not count it as a pull), unless the
   * caller is about to read the manifest anyway (`thenFetch`): then one GET both resolves and reads it,
   * and the bytes are kept for the fetch() that follows, as for a digest.
   */
  async resolve(reference: string, options: { thenFetch?: boolean } = {}): Promise<Descriptor> {
    if (isDigest(reference)) return this.resolveDigest(reference);
    if (options.thenFetch) return this.getManifestByTag(reference, true);
    const path = `/v2/${this.repository}/manifests/${reference}`;
    const head = await this.client.send({
      method: 'HEAD',
      path,
      headers: { accept: ACCEPT_MANIFESTS },
      scopes: this.pull,
    });
    head.body.resume();
    if (head.status === 200) {
      const digest = head.headers['docker-content-digest'];
      const size = Number(head.headers['content-length']);
      const mediaType = head.headers['content-type']?.split(';')[0]?.trim();
      if (
        digest &&
        isDigest(digest) &&
        Number.isSafeInteger(size) &&
        mediaType &&
        isManifestMediaType(mediaType)
      ) {
        return { mediaType, digest, size };
      }
    } else if (head.status !== 405) {
      throw await this.failure(head, `manifest ${reference}`);
    }
    // The HEAD was not conclusive (no digest header, odd content type): read the manifest itself.
    return this.getManifestByTag(reference, false);
  }

  /** GET of a manifest by tag: its digest is that of the bytes received. */
  private async getManifestByTag(tag: string, keep: boolean): Promise<Descriptor> {
    const res = await this.client.send({
      method: 'GET',
      path: `/v2/${this.repository}/manifests/${tag}`,
      headers: { accept: ACCEPT_MANIFESTS },
      scopes: this.pull,
    });
    if (res.status !== 200) throw await this.failure(res, `manifest ${tag}`);
    const bytes = await readAll(res.body, MAX_MANIFEST_BYTES, `manifest ${tag} of ${this.description}`);
    const digest = sha256Digest(bytes);
    const declared = declaredMediaType(bytes);
    const mediaType = declared ?? res.headers['content-type']?.split(';')[0]?.trim() ?? '';
    if (keep) this.keepResolved(digest, bytes);
    return { mediaType, digest, size: bytes.length };
  }

  /** Small manifests just read by a resolve, for the fetch that follows it. */
  private keepResolved(digest: string, bytes: Buffer): void {
    if (bytes.length > 64 * 1024) return;
    if (this.resolvedManifests.size >= 32)
      this.resolvedManifests.delete(this.resolvedManifests.keys().next().value as string);
    this.resolvedManifests.set(digest, bytes);
  }

  /**
   * A digest names its content, so one GET both resolves and reads it (verified against the digest);
   * the bytes are kept for the fetch() that follows. A pinned pull costs two requests, not three.
   */
  private async resolveDigest(digest: string): Promise<Descriptor> {
    const path = `/v2/${this.repository}/manifests/${digest}`;
    const res = await this.client.send({
      method: 'GET',
      path,
      headers: { accept: ACCEPT_MANIFESTS },
      scopes: this.pull,
    });
    if (res.status !== 200) throw await this.failure(res, `manifest ${digest}`);
    const what = `manifest ${digest} of ${this.description}`;
    // The size is not known yet: the digest and the cap are what the bytes are held to.
    const verifier = new VerifyingStream({ digest, limit: MAX_MANIFEST_BYTES, what });
    // chain(), not pipeline(): pipeline aborts an AbortController when it finishes, which builds a
    // DOMException with its stack trace for every manifest (~0.5 ms each in the agent's cold sync).
    const bytes = await readAll(chain(res.body, verifier), MAX_MANIFEST_BYTES, what);
    const declared = declaredMediaType(bytes);
    const mediaType = declared ?? res.headers['content-type']?.split(';')[0]?.trim() ?? '';
    this.keepResolved(digest, bytes);
    return { mediaType, digest, size: bytes.length };
  }

  async fetch(descriptor: Descriptor): Promise<Readable> {
    const manifest = isManifestMediaType(descriptor.mediaType);
    const cached = manifest ? this.resolvedManifests.get(descriptor.digest) : undefined;
    if (cached && cached.length === descriptor.size) {
      this.resolvedManifests.delete(descriptor.digest);
      return toReadable(cached);
    }
    const path = `/v2/${this.repository}/${manifest ? 'manifests' : 'blobs'}/${descriptor.digest}`;
    const headers: Record<string, string> = manifest
      ? { accept: `${descriptor.mediaType}, ${ACCEPT_MANIFESTS}` }
      : {};
    const res = await this.client.send({ method: 'GET', path, headers, scopes: this.pull });
    if (res.status !== 200)
      throw await this.failure(res, `${manifest ? 'manifest' : 'blob'} ${descriptor.digest}`);
    const what = `${manifest ? 'manifest' : 'blob'} ${descriptor.digest} of ${this.description}`;
    const host = this.client.registry;
    return verified(res.body, descriptor, what, manifest ? MAX_MANIFEST_BYTES : undefined, (err, bytes) =>
      err instanceof MeshwasmError
        ? err
        : new MeshwasmError(
            'NETWORK',
            `${what}: the connection to ${host} broke off after ${bytes} of ${descriptor.size} bytes (${err.message})`,
            {
              hint: 'retry; if it keeps happening, check proxies and timeouts between you and the registry',
              cause: err,
            },
          ),
    );
  }

  /**
   * GET /v2/<name>/referrers/<digest>. A registry that has the API answers 200 with an index (empty
   * when nothing refers to the digest); 404, 400, 405 or 501 mean it does not (distribution 2.8 says 404).
   */
  async referrers(digest: string): Promise<Descriptor[] | undefined> {
    const res = await this.client.send({
      method: 'GET',
      path: `/v2/${this.repository}/referrers/${digest}`,
      headers: { accept: MediaType.ociIndex },
      scopes: this.pull,
    });
    if ([400, 404, 405, 501].includes(res.status)) {
      res.body.resume();
      return undefined;
    }
    if (res.status !== 200) throw await this.failure(res, `referrers of ${digest}`);
    const what = `referrers of ${digest} in ${this.description}`;
    const bytes = await readAll(res.body, MAX_MANIFEST_BYTES, what);
    const parsed = parseManifest(bytes, MediaType.ociIndex, what);
    if (parsed.kind !== 'index')
      throw new MeshwasmError('REGISTRY', `${what}: the registry answered a manifest, not an index`);
    return parsed.index.manifests;
  }

  async exists(descriptor: Descriptor): Promise<boolean> {
    const manifest = isManifestMediaType(descriptor.mediaType);
    const path = `/v2/${this.repository}/${manifest ? 'manifests' : 'blobs'}/${descriptor.digest}`;
    const headers: Record<string, string> = manifest ? { accept: ACCEPT_MANIFESTS } : {};
    const res = await this.client.send({ method: 'HEAD', path, headers, scopes: this.pull });
    res.body.resume();
    if (res.status === 200) return true;
    if (res.status === 404) return false;
    throw await this.failure(res, `${descriptor.digest}`);
  }

  async push(descriptor: Descriptor, content: Content): Promise<void> {
    if (isManifestMediaType(descriptor.mediaType)) {
      const bytes = await readAll(
        toReadable(await openContent(content)),
        MAX_MANIFEST_BYTES,
        `manifest ${descriptor.digest}`,
      );
      if (sha256Digest(bytes) !== descriptor.digest) {
        throw new MeshwasmError('DIGEST_MISMATCH', `manifest content does not match ${descriptor.digest}`);
      }
      await this.putManifest(descriptor, bytes, descriptor.digest);
      this.pushedManifests.set(descriptor.digest, bytes);
      return;
    }
    const location = await this.startUpload();
    const chunkSize = this.options.chunkSize;
    if (chunkSize && descriptor.size > chunkSize) {
      await this.uploadChunked(location, descriptor, content, chunkSize);
    } else {
      await this.uploadMonolithic(location, descriptor, content);
    }
  }

  async tag(descriptor: Descriptor, reference: string): Promise<void> {
    let bytes = this.pushedManifests.get(descriptor.digest);
    if (!bytes)
      bytes = await readAll(
        await this.fetch(descriptor),
        MAX_MANIFEST_BYTES,
        `manifest ${descriptor.digest}`,
      );
    await this.putManifest(descriptor, bytes, reference);
  }

  async mount(descriptor: Descriptor, fromRepository: string): Promise<boolean> {
    const path = `/v2/${this.repository}/blobs/uploads/?mount=${encodeURIComponent(descriptor.digest)}&from=${encodeURIComponent(fromRepository)}`;
    const res = await this.client.send({
      method: 'POST',
      path,
      headers: { 'content-length': '0' },
      scopes: [...this.pushScopes, `repository:${fromRepository}:pull`],
    });
    res.body.resume();
    if (res.status === 201) return true;
    if (res.status === 202 && res.headers.location) {
      // The registry started a normal upload instead; cancel it so no session is left behind.
      const cancel = await this.client.send({
        method: 'DELETE',
        path: this.absolute(res.headers.location),
        scopes: this.pushScopes,
      });
      cancel.body.resume();
      return false;
    }
    throw await this.failure(res, `mount of ${descriptor.digest} from ${fromRepository}`);
  }

  private absolute(location: string): string {
    return new URL(location, `${this.client.baseUrl}/`).toString();
  }

  private async startUpload(): Promise<string> {
    const res = await this.client.send({
      method: 'POST',
      path: `/v2/${this.repository}/blobs/uploads/`,
      headers: { 'content-length': '0' },
      scopes: this.pushScopes,
    });
    res.body.resume();
    if (res.status !== 202 || !res.headers.location) throw await this.failure(res, 'blob upload');
    return this.absolute(res.headers.location);
  }

  private async uploadMonolithic(location: string, descriptor: Descriptor, content: Content): Promise<void> {
    const url = new URL(location);
    url.searchParams.set('digest', descriptor.digest);
    const res = await this.client.send({
      method: 'PUT',
      path: url.toString(),
      headers: { 'content-type': 'application/octet-stream', 'content-length': String(descriptor.size) },
      body: replayableBody(content),
      scopes: this.pushScopes,
    });
    res.body.resume();
    if (res.status !== 201) throw await this.failure(res, `blob ${descriptor.digest}`);
  }

  private async uploadChunked(
    location: string,
    descriptor: Descriptor,
    content: Content,
    chunkSize: number,
  ): Promise<void> {
    let current = location;
    let offset = 0;
    let pending: Buffer[] = [];
    let pendingBytes = 0;
    const flush = async () => {
      const chunk = Buffer.concat(pending, pendingBytes);
      const res = await this.client.send({
        method: 'PATCH',
        path: current,
        headers: {
          'content-type': 'application/octet-stream',
          'content-length': String(chunk.length),
          'content-range': `${offset}-${offset + chunk.length - 1}`,
        },
        body: chunk,
        scopes: this.pushScopes,
      });
      res.body.resume();
      if (res.status !== 202 || !res.headers.location)
        throw await this.failure(res, `chunk at ${offset} of ${descriptor.digest}`);
      current = this.absolute(res.headers.location);
      offset += chunk.length;
      pending = [];
      pendingBytes = 0;
    };
    for await (const piece of toReadable(await openContent(content))) {
      let buf = Buffer.isBuffer(piece) ? piece : Buffer.from(piece as Uint8Array);
      while (buf.length > 0) {
        const take = Math.min(buf.length, chunkSize - pendingBytes);
        pending.push(buf.subarray(0, take));
        pendingBytes += take;
        buf = buf.subarray(take);
        if (pendingBytes === chunkSize) await flush();
      }
    }
    if (pendingBytes > 0) await flush();
    const url = new URL(current);
    url.searchParams.set('digest', descriptor.digest);
    const res = await this.client.send({
      method: 'PUT',
      path: url.toString(),
      headers: { 'content-length': '0' },
      scopes: this.pushScopes,
    });
    res.body.resume();
    if (res.status !== 201) throw await this.failure(res, `blob ${descriptor.digest}`);
  }

  private async putManifest(descriptor: Descriptor, bytes: Buffer, reference: string): Promise<void> {
    const res = await this.client.send({
      method: 'PUT',
      path: `/v2/${this.repository}/manifests/${reference}`,
      headers: { 'content-type': descriptor.mediaType },
      body: bytes,
      scopes: this.pushScopes,
    });
    res.body.resume();
    if (res.status !== 201) throw await this.failure(res, `manifest ${reference}`);
  }

  /** Turns an unexpected response into an error that names the registry, the object and the reason. */
  private async failure(res: HttpResponse, what: string): Promise<MeshwasmError> {
    let detail = '';
    try {
      const text = (await readAll(res.body, 64 * 1024, 'error body')).toString('utf8');
      const parsed = JSON.parse(text) as { errors?: { code?: string; message?: string }[] };
      detail = (parsed.errors ?? [])
        .map((e) => `${e.code ?? ''}${e.message ? `: ${e.message}` : ''}`)
        .join('; ');
    } catch {
      // Not every error has a JSON body (HEAD never does).
    }
    const subject = `${this.description}: ${what}`;
    const suffix = detail ? ` (${detail})` : '';
    switch (res.status) {
      case 404:
        return new MeshwasmError('NOT_FOUND', `${subject} not found${suffix}`, {
          hint: 'check the repository, tag or digest',
        });
      case 403:
        return new MeshwasmError('DENIED', `${subject}: access denied${suffix}`, {
          hint: 'the credentials are valid but lack permission for this repository',
        });
      case 400:
        if (/DIGEST_INVALID|SIZE_INVALID/.test(detail))
          return new MeshwasmError(
            'DIGEST_MISMATCH',
            `${subject}: the registry rejected the content${suffix}`,
          );
        return new MeshwasmError('REGISTRY', `${subject}: rejected by the registry${suffix}`, {
          hint: /MANIFEST/.test(detail)
            ? 'the registry may not accept this manifest or media type'
            : undefined,
        });
      default:
        return new MeshwasmError('REGISTRY', `${subject}: unexpected HTTP ${res.status}${suffix}`);
    }
  }
}

/** Bytes and factories can be sent again on a retry; a bare stream only once. */
function replayableBody(content: Content): Uint8Array | (() => Promise<Readable>) {
  if (content instanceof Uint8Array) return content;
  if (typeof content === 'function') return async () => toReadable(await content());
  let used = false;
  return async () => {
    if (used)
      throw new MeshwasmError(
        'NETWORK',
        'the upload failed and its source stream cannot be read twice; retry the command',
      );
    used = true;
    return content;
  };
}
