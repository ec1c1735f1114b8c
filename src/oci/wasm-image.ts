import { createReadStream, createWriteStream } from 'node:fs';
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { PassThrough, type Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { MeshwasmError } from '../errors.js';
import type { Descriptor } from './descriptor.js';
import { isDigest, ObservingStream, sha256Digest, VerifyingStream, type ContentObserver } from './digest.js';
import { ioError, writeFileAtomic } from './files.js';
import { encodeManifest, MAX_MANIFEST_BYTES, parseManifest, type ImageManifest } from './manifest.js';
import { Annotation, MediaType, PLUGIN_ENTRY, tarLayerCompression } from './media-types.js';
import { chain, readAll } from './streams.js';
import type { Target } from './target.js';
import {
  DEFAULT_MAX_MODULE_BYTES,
  proxyWasmAbiVersions,
  WasmModuleChecker,
  WasmModuleValidator,
  type ModuleFacts,
} from './wasm-module.js';

/**
 * The four shapes Wasm filters take in registries:
 * - artifact: what `oras push --manifest-config runtime-config.json:...config.v1+json f.wasm:...layer.v1+wasm` writes
 * - wasme: solo.io's artifact, the runtime config repeated as the first of two layers
 * - oci-compat: an OCI image whose last layer is a tar+gzip holding plugin.wasm (Istio, Higress)
 * - docker: a Docker v2 image with plugin.wasm in its last tar.gz layer
 */
export type WasmFormat = 'artifact' | 'wasme' | 'oci-compat' | 'docker';

/** runtime-config.json, the Wasm config blob (solo-io/wasm spec; ASM and wasme write these field names). */
export interface RuntimeConfig {
  type: string;
  abiVersions?: string[];
  config?: { rootIds?: string[]; [key: string]: unknown };
  [key: string]: unknown;
}

export const MAX_CONFIG_BYTES = 1024 * 1024;
/** Larger reads than the 64 KiB default: fewer hops through the stream machinery for big modules. */
const READ_CHUNK = 1024 * 1024;

export interface WasmImage {
  manifestDigest: string;
  manifestMediaType: string;
  format: WasmFormat;
  /** the layer that carries the module */
  layer: Descriptor;
  runtimeConfig?: RuntimeConfig;
  manifest: ImageManifest;
}

export type Progress = (transferred: number, total: number) => void;

/** Reads the manifest a reference names and works out which of the four formats it is. */
export async function resolveWasmImage(
  target: Target,
  reference: string,
  options: { runtimeConfig?: boolean } = {},
): Promise<WasmImage> {
  let descriptor = await target.resolve(reference, { thenFetch: true });
  let parsed = parseManifest(
    await readDescriptor(target, descriptor, MAX_MANIFEST_BYTES),
    descriptor.mediaType,
    `manifest ${descriptor.digest}`,
  );
  if (parsed.kind === 'index') {
    const entries = parsed.index.manifests;
    const wasm = entries.filter(
      (m) => m.platform?.architecture === 'wasm' || m.platform?.os?.startsWith('wasi'),
    );
    const chosen = entries.length === 1 ? entries[0] : wasm.length === 1 ? wasm[0] : undefined;
    if (!chosen) {
      throw new MeshwasmError(
        'UNSUPPORTED_FORMAT',
        `${target.description}:${reference} is an index of ${entries.length} manifests and none is a single Wasm platform`,
        {
          hint: 'pull one of its manifests by digest: ' + entries.map((m) => m.digest).join(', '),
        },
      );
    }
    descriptor = chosen;
    parsed = parseManifest(
      await readDescriptor(target, descriptor, MAX_MANIFEST_BYTES),
      descriptor.mediaType,
      `manifest ${descriptor.digest}`,
    );
    if (parsed.kind === 'index')
      throw new MeshwasmError('UNSUPPORTED_FORMAT', `nested index at ${descriptor.digest}`);
  }
  const manifest = parsed.manifest;
  const mediaType = manifest.mediaType ?? descriptor.mediaType;
  const { format, layer } = detectFormat(manifest, mediaType, `${target.description}@${descriptor.digest}`);
  const image: WasmImage = {
    manifestDigest: descriptor.digest,
    manifestMediaType: mediaType,
    format,
    layer,
    manifest,
  };
  // Callers that only want the module (the node agent) skip this round trip.
  if (options.runtimeConfig !== false) image.runtimeConfig = await readRuntimeConfig(target, manifest);
  return image;
}

/** The runtime config blob of a Wasm artifact (undefined for the other formats, which have none). */
export async function readRuntimeConfig(
  target: Target,
  manifest: ImageManifest,
): Promise<RuntimeConfig | undefined> {
  if (manifest.config.mediaType !== MediaType.wasmConfig) return undefined;
  return parseRuntimeConfig(
    await readDescriptor(target, manifest.config, MAX_CONFIG_BYTES),
    `config ${manifest.config.digest}`,
  );
}

export function detectFormat(
  manifest: ImageManifest,
  mediaType: string,
  what: string,
): { format: WasmFormat; layer: Descriptor } {
  const wasmLayers = manifest.layers.filter((l) => l.mediaType === MediaType.wasmLayer);
  if (wasmLayers.length > 1)
    throw new MeshwasmError(
      'UNSUPPORTED_FORMAT',
      `${what}: ${wasmLayers.length} Wasm layers; only one module per image is supported`,
    );
  const [wasmLayer] = wasmLayers;
  if (wasmLayer) {
    const wasme = manifest.layers.length === 2 && manifest.layers[0]?.mediaType === MediaType.wasmConfig;
    return { format: wasme ? 'wasme' : 'artifact', layer: wasmLayer };
  }
  const last = manifest.layers[manifest.layers.length - 1];
  if (last && tarLayerCompression(last.mediaType)) {
    return { format: mediaType === MediaType.dockerManifest ? 'docker' : 'oci-compat', layer: last };
  }
  const found = manifest.layers.map((l) => l.mediaType).join(', ') || 'no layers';
  throw new MeshwasmError('UNSUPPORTED_FORMAT', `${what} is not a Wasm image (layers: ${found})`, {
    hint: `expected a ${MediaType.wasmLayer} layer, or a tar layer holding ${PLUGIN_ENTRY}`,
  });
}

export function parseRuntimeConfig(bytes: Uint8Array, what: string): RuntimeConfig {
  let value: unknown;
  try {
    value = JSON.parse(Buffer.from(bytes).toString('utf8'));
  } catch (err) {
    throw new MeshwasmError('INVALID_INPUT', `${what} is not valid JSON: ${(err as Error).message}`, {
      hint: 'runtime-config.json looks like {"type":"envoy_proxy","abiVersions":["v0.2.1"],"config":{"rootIds":["my_root_id"]}}',
    });
  }
  if (
    typeof value !== 'object' ||
    value === null ||
    Array.isArray(value) ||
    typeof (value as RuntimeConfig).type !== 'string'
  ) {
    throw new MeshwasmError(
      'INVALID_INPUT',
      `${what}: a runtime config must be an object with a string "type"`,
      {
        hint: 'runtime-config.json looks like {"type":"envoy_proxy","abiVersions":["v0.2.1"],"config":{"rootIds":["my_root_id"]}}',
      },
    );
  }
  const config = value as RuntimeConfig;
  const rootIds = config.config?.rootIds ?? (config.config as { root_ids?: unknown } | undefined)?.root_ids;
  if (rootIds !== undefined && (!Array.isArray(rootIds) || rootIds.some((r) => typeof r !== 'string'))) {
    throw new MeshwasmError('INVALID_INPUT', `${what}: config.rootIds must be an array of strings`);
  }
  return config;
}

export function rootIdsOf(config: RuntimeConfig | undefined): string[] {
  const c = config?.config as { rootIds?: string[]; root_ids?: string[] } | undefined;
  return c?.rootIds ?? c?.root_ids ?? [];
}

async function readDescriptor(target: Target, descriptor: Descriptor, limit: number): Promise<Buffer> {
  if (descriptor.size > limit) {
    throw new MeshwasmError(
      'TOO_LARGE',
      `${target.description}: ${descriptor.digest} declares ${descriptor.size} bytes, over the ${limit}-byte limit`,
    );
  }
  return readAll(await target.fetch(descriptor), limit, `${descriptor.digest} of ${target.description}`);
}

export interface PullOptions {
  maxModuleBytes?: number;
  /** read and parse the runtime config blob (default true); the module itself never needs it */
  runtimeConfig?: boolean;
  onProgress?: Progress;
  signal?: AbortSignal;
  /** told once the module is received and verified, before it is made durable (pulls to a file only) */
  onReceived?: () => void;
}

/** What checked a module as it streamed: its facts once the stream has ended cleanly. */
export interface ModuleCheck {
  readonly facts: ModuleFacts | undefined;
}

/** Opens the module bytes of an image: verified against the layer digest, checked as Wasm while streaming. */
export async function openWasmModule(
  target: Target,
  image: WasmImage,
  options: PullOptions = {},
): Promise<{ stream: Readable; validator: ModuleCheck }> {
  const limit = options.maxModuleBytes ?? DEFAULT_MAX_MODULE_BYTES;
  const what = `module in ${target.description}@${image.manifestDigest}`;
  const compression = tarLayerCompression(image.layer.mediaType);
  // A compressed layer may be smaller than its module, but never larger than the cap plus tar overhead.
  if (compression === undefined && image.layer.size > limit)
    throw new MeshwasmError(
      'TOO_LARGE',
      `${what}: ${image.layer.size} bytes is over the ${limit}-byte limit`,
      { hint: 'raise it with --max-module-size' },
    );
  let layer = await target.fetch(image.layer);
  // The targets here hand out VerifyingStreams, which the progress count and the Wasm check below
  // observe in their own pass (one stream per chunk, not three); another Readable gets streams of its own.
  const verifier = layer instanceof VerifyingStream ? layer : undefined;
  if (options.onProgress) {
    const progress = progressObserver(image.layer.size, options.onProgress);
    if (verifier) verifier.observe(progress);
    else layer = chain(layer, new ObservingStream(progress));
  }
  if (compression !== undefined) {
    // tar-stream is loaded only for the tar layers of compat and Docker images.
    const { extractPluginWasm } = await import('./tar-module.js');
    const validator = new WasmModuleValidator(what, limit);
    const moduleStream = extractPluginWasm(layer, compression, `layer ${image.layer.digest}`);
    return { stream: chain(moduleStream, validator), validator };
  }
  // A raw Wasm layer is the module: its sha256 is the layer digest, which the fetch already verifies
  // (the stream fails before it ends otherwise), so the module need not be hashed a second time.
  const knownDigest = image.layer.digest.startsWith('sha256:') ? image.layer.digest : undefined;
  const checker = new WasmModuleChecker(what, limit, { knownDigest });
  if (verifier) {
    verifier.observe(checker);
    return { stream: verifier, validator: checker };
  }
  return { stream: chain(layer, new ObservingStream(checker)), validator: checker };
}

/**
 * The sha256 of the module an image holds: a raw Wasm layer is the module, so its (verified) layer digest
 * is the answer without a download; a tar layer is pulled and the module in it hashed.
 */
export async function wasmModuleDigest(
  target: Target,
  reference: string,
  options: Pick<PullOptions, 'maxModuleBytes' | 'signal'> = {},
): Promise<{ manifestDigest: string; moduleDigest: string }> {
  const image = await resolveWasmImage(target, reference, { runtimeConfig: false });
  if (tarLayerCompression(image.layer.mediaType) === undefined && image.layer.digest.startsWith('sha256:'))
    return { manifestDigest: image.manifestDigest, moduleDigest: image.layer.digest };
  const { stream, validator } = await openWasmModule(target, image, options);
  for await (const chunk of stream) void chunk; // the validator hashes what passes
  return { manifestDigest: image.manifestDigest, moduleDigest: (validator.facts as ModuleFacts).digest };
}

export interface PulledModule extends WasmImage {
  module: ModuleFacts;
}

/** Pulls a module into `file` atomically (temporary file beside it, fsync, rename): no file on failure. */
export async function pullWasmToFile(
  target: Target,
  reference: string,
  file: string,
  options: PullOptions = {},
): Promise<PulledModule> {
  const image = await resolveWasmImage(target, reference, { runtimeConfig: false });
  // The small config blob is read while the module streams in, not one round trip before it; the file
  // is renamed into place only once the config has been read and checked too (nothing half-written).
  let runtimeConfig: RuntimeConfig | undefined;
  const config =
    options.runtimeConfig === false
      ? undefined
      : readRuntimeConfig(target, image.manifest).then((value) => void (runtimeConfig = value));
  config?.catch(() => undefined); // reported through the module stream below
  const { stream, validator } = await openWasmModule(target, image, options);
  config?.catch((err: unknown) => stream.destroy(err as Error));
  await writeFileAtomic(file, stream, {
    mode: 0o644,
    signal: options.signal,
    onReceived: options.onReceived,
    ...(config ? { beforeCommit: () => config } : {}),
  });
  return { ...image, ...(runtimeConfig ? { runtimeConfig } : {}), module: validator.facts as ModuleFacts };
}

/** Pulls a module into memory (the sidecar loads it; capped by maxModuleBytes). */
export async function pullWasmToBuffer(
  target: Target,
  reference: string,
  options: PullOptions = {},
): Promise<PulledModule & { bytes: Buffer }> {
  const image = await resolveWasmImage(target, reference);
  const { stream, validator } = await openWasmModule(target, image, options);
  const bytes = await readAll(stream, options.maxModuleBytes ?? DEFAULT_MAX_MODULE_BYTES, 'module');
  return { ...image, module: validator.facts as ModuleFacts, bytes };
}

function progressObserver(total: number, onProgress: Progress): ContentObserver {
  let done = 0;
  return {
    update(chunk) {
      done += chunk.length;
      onProgress(done, total);
    },
    end() {},
  };
}

export interface PushOptions {
  /** path of runtime-config.json; generated from rootIds and the module's ABI export when absent */
  configFile?: string;
  rootIds?: string[];
  format?: 'artifact' | 'compat';
  annotations?: Record<string, string>;
  maxModuleBytes?: number;
  onProgress?: Progress;
}

export interface PushResult {
  descriptor: Descriptor;
  format: 'artifact' | 'oci-compat';
  module: ModuleFacts;
  runtimeConfig: RuntimeConfig;
  layer: Descriptor;
  config: Descriptor;
}

/** Validates a module file and pushes it as a Wasm image, tagged `reference` when that is a tag. */
export async function pushWasm(
  target: Target,
  reference: string,
  modulePath: string,
  options: PushOptions = {},
): Promise<PushResult> {
  const facts = await inspectModuleFile(modulePath, options.maxModuleBytes);
  const runtimeConfig = options.configFile
    ? parseRuntimeConfig(await readSmallFile(options.configFile), options.configFile)
    : defaultRuntimeConfig(options.rootIds ?? [], proxyWasmAbiVersions(facts.exports));
  const title = basename(modulePath);
  let manifest: ImageManifest;
  let layer: Descriptor;
  let config: Descriptor;
  if ((options.format ?? 'artifact') === 'artifact') {
    const configBytes = options.configFile
      ? await readSmallFile(options.configFile)
      : Buffer.from(JSON.stringify(runtimeConfig));
    config = { mediaType: MediaType.wasmConfig, digest: sha256Digest(configBytes), size: configBytes.length };
    layer = {
      mediaType: MediaType.wasmLayer,
      digest: facts.digest,
      size: facts.size,
      annotations: { [Annotation.title]: title },
    };
    await pushIfMissing(target, config, configBytes);
    await pushIfMissing(target, layer, () =>
      withProgress(
        createReadStream(modulePath, { highWaterMark: READ_CHUNK }),
        facts.size,
        options.onProgress,
      ),
    );
    manifest = { schemaVersion: 2, mediaType: MediaType.ociManifest, config, layers: [layer] };
  } else {
    const staged = await stageCompatLayer(modulePath);
    try {
      layer = { mediaType: MediaType.ociLayerTarGzip, digest: staged.digest, size: staged.size };
      const imageConfig = Buffer.from(
        JSON.stringify({
          architecture: 'wasm',
          os: 'wasip1',
          rootfs: { type: 'layers', diff_ids: [staged.diffId] },
          config: {},
        }),
      );
      config = {
        mediaType: MediaType.ociConfig,
        digest: sha256Digest(imageConfig),
        size: imageConfig.length,
      };
      await pushIfMissing(target, config, imageConfig);
      await pushIfMissing(target, layer, () =>
        withProgress(
          createReadStream(staged.path, { highWaterMark: READ_CHUNK }),
          staged.size,
          options.onProgress,
        ),
      );
    } finally {
      await rm(staged.dir, { recursive: true, force: true });
    }
    manifest = {
      schemaVersion: 2,
      mediaType: MediaType.ociManifest,
      config,
      layers: [layer],
      annotations: { [Annotation.wasmVariant]: 'compat' },
    };
  }
  if (options.annotations && Object.keys(options.annotations).length > 0) {
    manifest.annotations = { ...(manifest.annotations ?? {}), ...options.annotations };
  }
  const bytes = encodeManifest(manifest);
  const descriptor: Descriptor = {
    mediaType: MediaType.ociManifest,
    digest: sha256Digest(bytes),
    size: bytes.length,
  };
  await target.push(descriptor, bytes);
  if (!isDigest(reference)) await target.tag(descriptor, reference);
  return {
    descriptor,
    format: options.format === 'compat' ? 'oci-compat' : 'artifact',
    module: facts,
    runtimeConfig,
    layer,
    config,
  };
}

export function defaultRuntimeConfig(rootIds: string[], abiVersions: string[]): RuntimeConfig {
  return {
    type: 'envoy_proxy',
    abiVersions: abiVersions.length ? abiVersions : ['v0.2.1'],
    config: { rootIds },
  };
}

async function pushIfMissing(
  target: Target,
  descriptor: Descriptor,
  content: Buffer | (() => Readable),
): Promise<void> {
  if (await target.exists(descriptor)) return;
  await target.push(descriptor, content);
}

function withProgress(stream: Readable, total: number, onProgress: Progress | undefined): Readable {
  return onProgress ? stream.pipe(new ObservingStream(progressObserver(total, onProgress))) : stream;
}

/** Streams a local module file through the validator: size, sha256, exports; throws if it is not Wasm. */
export async function inspectModuleFile(path: string, maxModuleBytes?: number): Promise<ModuleFacts> {
  try {
    const info = await stat(path);
    if (!info.isFile()) throw new MeshwasmError('INVALID_INPUT', `${path} is not a file`);
  } catch (err) {
    if (err instanceof MeshwasmError) throw err;
    throw ioError(err, `cannot read module ${path}`);
  }
  const validator = new WasmModuleValidator(path, maxModuleBytes);
  await pipeline(
    createReadStream(path, { highWaterMark: READ_CHUNK }),
    validator,
    new PassThrough().resume(),
  );
  return validator.facts as ModuleFacts;
}

async function readSmallFile(path: string): Promise<Buffer> {
  try {
    const info = await stat(path);
    if (info.size > MAX_CONFIG_BYTES)
      throw new MeshwasmError(
        'TOO_LARGE',
        `${path} is over ${MAX_CONFIG_BYTES} bytes; a runtime config is a small JSON file`,
      );
    return await readFile(path);
  } catch (err) {
    if (err instanceof MeshwasmError) throw err;
    throw ioError(err, `cannot read ${path}`);
  }
}

/** Builds the compat layer (tar with /plugin.wasm, gzipped) in a temporary file, hashing both forms. */
async function stageCompatLayer(
  modulePath: string,
): Promise<{ dir: string; path: string; digest: string; size: number; diffId: string }> {
  const dir = await mkdtemp(join(tmpdir(), 'meshwasm-compat-'));
  const path = join(dir, 'layer.tar.gz');
  const size = (await stat(modulePath)).size;
  // tar-stream and zlib are loaded only here and for pulls of tar layers: most runs never need them.
  const { pack } = await import('tar-stream');
  const tar = pack();
  const entry = tar.entry({ name: PLUGIN_ENTRY, size, mode: 0o644, mtime: new Date(0), uid: 0, gid: 0 });
  const writing = pipeline(createReadStream(modulePath), entry).then(() => tar.finalize());
  const tarHash = new VerifyingStream({ what: 'compat layer (tar)' });
  const gzHash = new VerifyingStream({ what: 'compat layer (gzip)' });
  const { createGzip } = await import('node:zlib');
  await Promise.all([writing, pipeline(tar, tarHash, createGzip(), gzHash, createWriteStream(path))]);
  return { dir, path, digest: gzHash.digest as string, size: gzHash.bytes, diffId: tarHash.digest as string };
}
