/**
 * Pushes images with plain HTTP calls and nothing of meshwasm's client, to test that we read what other
 * clients (wasme, docker, buildah) write. Monolithic uploads against an unauthenticated registry.
 */
import { createHash } from 'node:crypto';
import { gzipSync } from 'node:zlib';

export interface RawBlob {
  mediaType: string;
  bytes: Buffer;
  annotations?: Record<string, string>;
}

export function descriptorOf(blob: RawBlob) {
  return {
    mediaType: blob.mediaType,
    digest: `sha256:${createHash('sha256').update(blob.bytes).digest('hex')}`,
    size: blob.bytes.length,
    ...(blob.annotations ? { annotations: blob.annotations } : {}),
  };
}

export async function rawPushBlob(baseUrl: string, repo: string, bytes: Buffer): Promise<void> {
  const start = await fetch(`${baseUrl}/v2/${repo}/blobs/uploads/`, { method: 'POST' });
  if (start.status !== 202) throw new Error(`upload start: ${start.status}`);
  const location = new URL(start.headers.get('location') ?? '', baseUrl);
  location.searchParams.set('digest', `sha256:${createHash('sha256').update(bytes).digest('hex')}`);
  const put = await fetch(location, {
    method: 'PUT',
    body: new Uint8Array(bytes),
    headers: { 'content-type': 'application/octet-stream' },
  });
  if (put.status !== 201) throw new Error(`blob put: ${put.status} ${await put.text()}`);
}

/** Pushes config + layers and a manifest of `manifestMediaType`; returns the manifest digest. */
export async function rawPushImage(
  baseUrl: string,
  repo: string,
  tag: string,
  manifestMediaType: string,
  config: RawBlob,
  layers: RawBlob[],
  annotations?: Record<string, string>,
): Promise<string> {
  for (const blob of [config, ...layers]) await rawPushBlob(baseUrl, repo, blob.bytes);
  const manifest = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: manifestMediaType,
      config: descriptorOf(config),
      layers: layers.map(descriptorOf),
      ...(annotations ? { annotations } : {}),
    }),
  );
  const res = await fetch(`${baseUrl}/v2/${repo}/manifests/${tag}`, {
    method: 'PUT',
    body: new Uint8Array(manifest),
    headers: { 'content-type': manifestMediaType },
  });
  if (res.status !== 201) throw new Error(`manifest put: ${res.status} ${await res.text()}`);
  return `sha256:${createHash('sha256').update(manifest).digest('hex')}`;
}

/** A ustar archive with the given files (names written verbatim, so tests can use hostile ones). */
export function tarOf(files: { name: string; data: Buffer; type?: 'file' | 'dir' }[]): Buffer {
  const blocks: Buffer[] = [];
  for (const file of files) {
    const header = Buffer.alloc(512);
    header.write(file.name.slice(0, 100), 0, 'utf8');
    header.write('0000644\0', 100);
    header.write('0000000\0', 108);
    header.write('0000000\0', 116);
    const size = file.type === 'dir' ? 0 : file.data.length;
    header.write(size.toString(8).padStart(11, '0') + '\0', 124);
    header.write('00000000000\0', 136);
    header.write('        ', 148);
    header.write(file.type === 'dir' ? '5' : '0', 156);
    header.write('ustar\0', 257);
    header.write('00', 263);
    let sum = 0;
    for (const b of header) sum += b;
    header.write(sum.toString(8).padStart(6, '0') + '\0 ', 148);
    blocks.push(header);
    if (size > 0) {
      blocks.push(file.data);
      const pad = (512 - (size % 512)) % 512;
      if (pad) blocks.push(Buffer.alloc(pad));
    }
  }
  blocks.push(Buffer.alloc(1024));
  return Buffer.concat(blocks);
}

export function tarGzOf(files: { name: string; data: Buffer; type?: 'file' | 'dir' }[]): Buffer {
  return gzipSync(tarOf(files));
}
