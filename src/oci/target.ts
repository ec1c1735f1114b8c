import type { Readable } from 'node:stream';
import type { Descriptor } from './descriptor.js';

/**
 * Content to push: bytes, or a function that opens a fresh stream (so a failed upload can be retried).
 * A bare stream can be pushed once and is not retried.
 */
export type Content = Uint8Array | Readable | (() => Promise<Readable> | Readable);

/**
 * One interface for every store of OCI content: a remote repository, an OCI image-layout directory,
 * memory. Content is addressed by descriptor; `reference` is a tag or a digest within the store.
 */
export interface Target {
  /** For messages: "registry.example.com/filters/header", "oci-layout ./store". */
  readonly description: string;
  /**
   * Finds the manifest a tag or digest names. Throws NOT_FOUND if there is none. `thenFetch` says the
   * caller fetches the manifest next, so a store may read it now and keep it (a registry: one request).
   */
  resolve(reference: string, options?: { thenFetch?: boolean }): Promise<Descriptor>;
  /**
   * Opens the content of a blob or manifest. The stream fails (instead of ending) if the bytes do not
   * match the descriptor's digest and size, so a consumer that saw 'end' has verified content.
   */
  fetch(descriptor: Descriptor): Promise<Readable>;
  exists(descriptor: Descriptor): Promise<boolean>;
  /** Stores content, verifying it against the descriptor. */
  push(descriptor: Descriptor, content: Content): Promise<void>;
  /** Points a tag at a manifest already in the store. */
  tag(descriptor: Descriptor, reference: string): Promise<void>;
  /**
   * The OCI 1.1 referrers API: descriptors of the manifests whose `subject` is `digest`. Undefined when
   * the store has no such API (callers then use the referrers tag schema, see referrers.ts).
   */
  referrers?(digest: string): Promise<Descriptor[] | undefined>;
  /** Optional fast path: make a blob from another repository of the same store available here. */
  mount?(descriptor: Descriptor, fromRepository: string): Promise<boolean>;
  /** The repository within its registry, for cross-repository mounts; undefined for other stores. */
  readonly repository?: string;
  /** Identifies the store holding this target (e.g. the registry host), so copy() can detect mounts. */
  readonly storeId?: string;
}

export async function openContent(content: Content): Promise<Readable | Uint8Array> {
  return typeof content === 'function' ? await content() : content;
}

export function canRetry(content: Content): boolean {
  return typeof content === 'function' || content instanceof Uint8Array;
}
