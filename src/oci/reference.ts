import { MeshwasmError } from '../errors.js';
import { assertDigest } from './digest.js';

/**
 * A parsed image reference, following the grammar of the distribution project:
 *   reference := name [ ":" tag ] [ "@" digest ]
 *   name      := [ domain "/" ] path-component ( "/" path-component )*
 *   domain    := host [ ":" port ]   (host: DNS name, IPv4, or "[" IPv6 "]")
 */
export interface Reference {
  /** registry as written, e.g. "docker.io", "127.0.0.1:5000", "[::1]:5000" */
  registry: string;
  /** repository path, e.g. "library/nginx", "asm/asm-test" */
  repository: string;
  tag?: string;
  digest?: string;
}

export const DOCKER_HUB = 'docker.io';
const PATH_COMPONENT = /^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$/;
const TAG = /^[\w][\w.-]{0,127}$/;
const DNS_HOST =
  /^(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])(?:\.(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9]))*$/;
const IPV6_HOST = /^\[[0-9a-fA-F:.]+(?:%[\w.]+)?\]$/;
const PORT = /^[0-9]{1,5}$/;

function invalid(input: string, why: string): MeshwasmError {
  return new MeshwasmError('INVALID_REFERENCE', `invalid reference "${input}": ${why}`, {
    hint: 'write references as registry/repository:tag or registry/repository@sha256:<hex>, e.g. registry.example.com/filters/header:v1',
  });
}

export function parseReference(input: string): Reference {
  if (input.length === 0) throw invalid(input, 'it is empty');
  if (/\s/.test(input)) throw invalid(input, 'it contains whitespace');
  let rest = input;
  let digest: string | undefined;
  const at = rest.indexOf('@');
  if (at >= 0) {
    digest = rest.slice(at + 1);
    rest = rest.slice(0, at);
    try {
      assertDigest(digest);
    } catch {
      throw invalid(input, `"${digest}" is not a digest (expected sha256: and 64 lowercase hex characters)`);
    }
  }
  let tag: string | undefined;
  const lastSlash = rest.lastIndexOf('/');
  const colon = rest.lastIndexOf(':');
  if (colon > lastSlash && !rest.slice(colon).includes(']')) {
    tag = rest.slice(colon + 1);
    rest = rest.slice(0, colon);
    if (!TAG.test(tag))
      throw invalid(
        input,
        `"${tag}" is not a valid tag (letters, digits, "_", "." and "-", at most 128, not starting with "." or "-")`,
      );
  }
  const { registry, path } = splitDomain(input, rest);
  if (path.length === 0) throw invalid(input, 'the repository name is missing');
  for (const component of path.split('/')) {
    if (!PATH_COMPONENT.test(component)) {
      throw invalid(
        input,
        component === ''
          ? 'it has an empty path component ("//" or a trailing "/")'
          : `repository component "${component}" must be lowercase letters and digits separated by ".", "_", "__" or "-"`,
      );
    }
  }
  const repository = registry === DOCKER_HUB && !path.includes('/') ? `library/${path}` : path;
  if (registry.length + 1 + repository.length > 255)
    throw invalid(input, 'the name is longer than 255 characters');
  const ref: Reference = { registry, repository };
  if (tag !== undefined) ref.tag = tag;
  if (digest !== undefined) ref.digest = digest;
  return ref;
}

function splitDomain(input: string, name: string): { registry: string; path: string } {
  const slash = name.indexOf('/');
  const first = slash < 0 ? name : name.slice(0, slash);
  const looksLikeDomain =
    slash >= 0 &&
    (first.includes('.') || first.includes(':') || first === 'localhost' || first !== first.toLowerCase());
  if (!looksLikeDomain) return { registry: DOCKER_HUB, path: name };
  validateDomain(input, first);
  return { registry: first === 'index.docker.io' ? DOCKER_HUB : first, path: name.slice(slash + 1) };
}

function validateDomain(input: string, domain: string): void {
  let host = domain;
  let port: string | undefined;
  if (domain.startsWith('[')) {
    const end = domain.indexOf(']');
    if (end < 0) throw invalid(input, `registry "${domain}" has an unterminated IPv6 address`);
    host = domain.slice(0, end + 1);
    const after = domain.slice(end + 1);
    if (after !== '') {
      if (!after.startsWith(':')) throw invalid(input, `unexpected "${after}" after the IPv6 address`);
      port = after.slice(1);
    }
    if (!IPV6_HOST.test(host)) throw invalid(input, `"${host}" is not a valid IPv6 address`);
  } else {
    const colon = domain.indexOf(':');
    if (colon >= 0) {
      host = domain.slice(0, colon);
      port = domain.slice(colon + 1);
    }
    if (!DNS_HOST.test(host)) throw invalid(input, `"${host}" is not a valid registry host name`);
  }
  if (port !== undefined && (!PORT.test(port) || Number(port) > 65535 || Number(port) === 0)) {
    throw invalid(input, `"${port}" is not a valid port`);
  }
}

/** The tag or digest to ask the registry for; digests win, the default tag is "latest". */
export function referenceSelector(ref: Reference): string {
  return ref.digest ?? ref.tag ?? 'latest';
}

export function formatReference(ref: Reference): string {
  let s = `${ref.registry}/${ref.repository}`;
  if (ref.tag) s += `:${ref.tag}`;
  if (ref.digest) s += `@${ref.digest}`;
  return s;
}

/** registry/repository@digest: the pinned form the controller writes to the images ConfigMap. */
export function pinnedReference(ref: Reference, digest: string): string {
  return `${ref.registry}/${ref.repository}@${digest}`;
}

/** The host that serves the registry API (Docker Hub's name differs from its API endpoint). */
export function registryEndpoint(registry: string): string {
  return registry === DOCKER_HUB ? 'registry-1.docker.io' : registry;
}
