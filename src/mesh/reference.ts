/**
 * A small, pure OCI image reference parser (the distribution/reference grammar) for validating
 * `spec.filter.image` and pinning it to a digest. It normalises Docker Hub shorthand the way docker and
 * oras do (`nginx` -> `docker.io/library/nginx`), so a pinned reference always names its registry.
 */
import { MeshwasmError } from '../errors.js';
import type { ImageReference } from './types.js';

const DOMAIN_COMPONENT = '(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])';
const DOMAIN = new RegExp(
  `^(?:${DOMAIN_COMPONENT}(?:\\.${DOMAIN_COMPONENT})*|\\[[0-9a-fA-F:]+\\])(?::[0-9]+)?$`,
);
const PATH_COMPONENT = /^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$/;
const TAG = /^[\w][\w.-]{0,127}$/;
const DIGEST = /^[a-z0-9]+(?:[+._-][a-z0-9]+)*:[a-zA-Z0-9=_-]{32,}$/;
const SHA256_DIGEST = /^sha256:[a-f0-9]{64}$/;
const MAX_NAME_LENGTH = 255;

const DOCKER_HUB = 'docker.io';

function invalid(input: string, why: string): MeshwasmError {
  return new MeshwasmError('INVALID_REFERENCE', `invalid image reference "${input}": ${why}`, {
    hint: 'write it as registry/repository:tag or registry/repository@sha256:<64 hex digits>, e.g. registry.example.com/filters/header:v1',
  });
}

/** True for a well-formed `sha256:<64 lowercase hex>` digest (the only algorithm meshwasm pins with). */
export function isSha256Digest(value: string): boolean {
  return SHA256_DIGEST.test(value);
}

/** Parses `[registry/]repository[:tag][@digest]`; throws MeshwasmError INVALID_REFERENCE. */
export function parseImageReference(input: string): ImageReference {
  if (input.length === 0) throw invalid(input, 'it is empty');
  if (input !== input.trim() || /\s/.test(input)) throw invalid(input, 'it contains whitespace');

  let rest = input;
  let digest: string | undefined;
  const at = rest.indexOf('@');
  if (at >= 0) {
    digest = rest.slice(at + 1);
    rest = rest.slice(0, at);
    if (!DIGEST.test(digest)) throw invalid(input, `"${digest}" is not a digest (algorithm:hex)`);
    if (digest.startsWith('sha256:') && !SHA256_DIGEST.test(digest)) {
      throw invalid(input, 'a sha256 digest has exactly 64 lowercase hex digits');
    }
  }

  // A tag follows the last ':' after the last '/', so a registry port is never mistaken for a tag.
  let tag: string | undefined;
  const lastSlash = rest.lastIndexOf('/');
  const colon = rest.indexOf(':', lastSlash + 1);
  if (colon >= 0) {
    tag = rest.slice(colon + 1);
    rest = rest.slice(0, colon);
    if (!TAG.test(tag)) throw invalid(input, `"${tag}" is not a valid tag`);
  }

  if (rest.length === 0) throw invalid(input, 'the repository name is missing');
  if (rest.length > MAX_NAME_LENGTH)
    throw invalid(input, `the name is longer than ${MAX_NAME_LENGTH} characters`);

  const parts = rest.split('/');
  let registry = DOCKER_HUB;
  const first = parts[0] ?? '';
  // The first component is a registry when it looks like a host (has a dot or port) or is localhost.
  if (
    parts.length > 1 &&
    (first.includes('.') || first.includes(':') || first === 'localhost' || first.startsWith('['))
  ) {
    if (!DOMAIN.test(first)) throw invalid(input, `"${first}" is not a valid registry host`);
    registry = first;
    parts.shift();
  }
  for (const part of parts) {
    if (!PATH_COMPONENT.test(part)) {
      throw invalid(
        input,
        `repository component "${part}" must be lowercase letters and digits, separated by '.', '_', '__' or '-'`,
      );
    }
  }
  if (registry === DOCKER_HUB && parts.length === 1) parts.unshift('library');
  if (registry === 'index.docker.io') registry = DOCKER_HUB;

  const ref: ImageReference = { registry, repository: parts.join('/') };
  if (tag !== undefined) ref.tag = tag;
  if (digest !== undefined) ref.digest = digest;
  return ref;
}

/** `registry/repository@digest`: the form the images ConfigMap and the agent use. */
export function pinnedReference(ref: ImageReference, digest: string): string {
  if (!isSha256Digest(digest)) {
    throw new MeshwasmError('INVALID_INPUT', `"${digest}" is not a sha256 manifest digest`, {
      hint: 'a digest looks like sha256: followed by 64 lowercase hex digits',
    });
  }
  return `${ref.registry}/${ref.repository}@${digest}`;
}

/** Formats a reference back to its canonical string (`registry/repository[:tag][@digest]`). */
export function formatImageReference(ref: ImageReference): string {
  return `${ref.registry}/${ref.repository}${ref.tag !== undefined ? `:${ref.tag}` : ''}${ref.digest !== undefined ? `@${ref.digest}` : ''}`;
}

/** The hex part of a sha256 digest: the agent's file name stem. */
export function digestHex(digest: string): string {
  if (!isSha256Digest(digest)) {
    throw new MeshwasmError('INVALID_INPUT', `"${digest}" is not a sha256 manifest digest`, {
      hint: 'a digest looks like sha256: followed by 64 lowercase hex digits',
    });
  }
  return digest.slice('sha256:'.length);
}
