import { PassThrough, type Readable } from 'node:stream';
import { createGunzip } from 'node:zlib';
import { extract as tarExtract } from 'tar-stream';
import { MeshwasmError } from '../errors.js';
import { PLUGIN_ENTRY } from './media-types.js';

export { PLUGIN_ENTRY };

/**
 * Streams the `plugin.wasm` entry out of a (gzipped) tar layer. Nothing is written from entry names:
 * every other entry is drained and discarded. Entry names that climb out of the root ("..", absolute
 * paths) make the layer invalid, as does a missing or repeated plugin.wasm. The returned stream ends only
 * after the whole layer has been read, so a digest error of the layer still fails it.
 */
export function extractPluginWasm(layer: Readable, compression: 'gzip' | 'none', what: string): Readable {
  const out = new PassThrough();
  const extract = tarExtract();
  let found = 0;
  const fail = (err: Error) => {
    if (!out.destroyed) out.destroy(err);
    extract.destroy();
    layer.destroy();
  };
  extract.on('entry', (header, entry, next) => {
    const name = header.name;
    const normalized = name.replace(/^(\.\/)+/, '').replace(/\/+$/, '');
    if (name.startsWith('/') || normalized.split('/').includes('..')) {
      entry.resume();
      fail(
        new MeshwasmError('INVALID_MANIFEST', `${what}: tar entry "${name}" points outside the layer root`, {
          hint: 'the image is malformed or malicious; rebuild it with plugin.wasm at the root of the layer',
        }),
      );
      return;
    }
    const isPlugin =
      normalized === PLUGIN_ENTRY && (header.type === 'file' || header.type === 'contiguous-file');
    if (!isPlugin) {
      entry.on('end', () => next());
      entry.resume();
      return;
    }
    found++;
    if (found > 1) {
      entry.resume();
      fail(new MeshwasmError('INVALID_MANIFEST', `${what}: the layer holds more than one plugin.wasm`));
      return;
    }
    entry.on('data', (chunk: unknown) => {
      if (!out.write(chunk as Buffer)) {
        entry.pause();
        out.once('drain', () => entry.resume());
      }
    });
    entry.on('end', () => next());
  });
  // End only when the tar is fully read AND the layer stream ended verified (its digest is checked last).
  let pending = 2;
  const settle = () => {
    if (--pending > 0) return;
    if (found === 0) {
      fail(
        new MeshwasmError('UNSUPPORTED_FORMAT', `${what}: the tar layer has no ${PLUGIN_ENTRY} at its root`, {
          hint: 'compat images must carry the module as /plugin.wasm (e.g. `COPY filter.wasm ./plugin.wasm` in a FROM scratch image)',
        }),
      );
    } else out.end();
  };
  extract.on('finish', settle);
  layer.on('end', settle);
  extract.on('error', (err: Error) =>
    fail(
      err instanceof MeshwasmError
        ? err
        : new MeshwasmError('INVALID_MANIFEST', `${what}: not a valid tar layer (${err.message})`),
    ),
  );
  layer.on('error', (err: Error) => fail(err));
  if (compression === 'gzip') {
    const gunzip = createGunzip();
    gunzip.on('error', (err: Error) =>
      fail(new MeshwasmError('INVALID_MANIFEST', `${what}: the layer is not valid gzip (${err.message})`)),
    );
    layer.pipe(gunzip).pipe(extract);
  } else {
    layer.pipe(extract);
  }
  return out;
}
