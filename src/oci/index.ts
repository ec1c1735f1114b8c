/**
 * The OCI client's public face for the rest of meshwasm (CLI, controller, agent, sidecar).
 * Each helper opens a session for one call; long-running callers keep an `OciSession` instead.
 */
import { OciSession, type OciOptions } from './session.js';
import {
  pullWasmToBuffer,
  pullWasmToFile,
  wasmModuleDigest,
  type PulledModule,
  type PullOptions,
  type WasmFormat,
} from './wasm-image.js';

export {
  OciSession,
  parseAnyReference,
  parseLayoutReference,
  LAYOUT_SCHEME,
  type OciOptions,
  type OpenedTarget,
} from './session.js';
export {
  DOCKER_HUB,
  parseReference,
  formatReference,
  pinnedReference,
  referenceSelector,
  type Reference,
} from './reference.js';
export { digestHex, isDigest, sha256Digest } from './digest.js';
export {
  DockerConfig,
  defaultDockerConfigPath,
  type Credential,
  type CredentialSource,
} from './credentials.js';
export { copy, type CopyResult } from './copy.js';
export { LayoutTarget } from './layout-target.js';
export { MemoryTarget } from './memory-target.js';
export { MediaType } from './media-types.js';
export { PARTIAL_MARKER } from './files.js';
export type { Target } from './target.js';
export type { Descriptor } from './descriptor.js';
export * from './wasm-image.js';
export {
  DEFAULT_MAX_MODULE_BYTES,
  WasmModuleValidator,
  proxyWasmAbiVersions as proxyAbi,
  type ModuleFacts,
} from './wasm-module.js';

export type TransportOptions = OciOptions;

async function withSession<T>(options: OciOptions, run: (session: OciSession) => Promise<T>): Promise<T> {
  const session = new OciSession(options);
  try {
    return await run(session);
  } finally {
    await session.close();
  }
}

/** The manifest digest (`sha256:<hex>`) a reference names today. */
export function resolveDigest(reference: string, options: OciOptions = {}): Promise<string> {
  return withSession(options, async (session) => {
    const { target, selector } = await session.open(reference);
    return (await target.resolve(selector)).digest;
  });
}

/** The manifest digest a reference names and the sha256 of the module in it (see wasmModuleDigest). */
export function resolveModuleDigest(
  reference: string,
  options: OciOptions & Pick<PullOptions, 'maxModuleBytes'> = {},
): Promise<{ manifestDigest: string; moduleDigest: string }> {
  return withSession(options, async (session) => {
    const { target, selector } = await session.open(reference);
    return wasmModuleDigest(target, selector, options);
  });
}

/** Pulls a Wasm module of any supported format into memory. */
export function pullWasmModule(
  reference: string,
  options: OciOptions & PullOptions = {},
): Promise<{ module: Uint8Array; manifestDigest: string; format: WasmFormat; pulled: PulledModule }> {
  return withSession(options, async (session) => {
    const { target, selector } = await session.open(reference);
    const pulled = await pullWasmToBuffer(target, selector, options);
    return { module: pulled.bytes, manifestDigest: pulled.manifestDigest, format: pulled.format, pulled };
  });
}

/** Pulls a Wasm module into `file` atomically (no file appears if anything fails). */
export function pullModuleToFile(
  reference: string,
  file: string,
  options: OciOptions & PullOptions = {},
): Promise<PulledModule> {
  return withSession(options, async (session) => {
    const { target, selector } = await session.open(reference);
    return pullWasmToFile(target, selector, file, options);
  });
}
