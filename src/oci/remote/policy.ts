/**
 * Where the registry client lets a registry send it (pure but for DNS-free address checks). Two ways
 * a registry, or whoever answers in its name, can steer the client:
 *  - redirects: the Authorization header goes along only to the same origin (scheme, host and port), and
 *    an https registry may not move a request to plain http at all unless --plain-http was given;
 *  - the Bearer challenge's realm: the client sends the registry's credentials there. The node agent holds
 *    the cluster's pull secret, so a realm on a cloud metadata service or another link-local address, on
 *    this machine's loopback (for a registry elsewhere), or on plain http for an https registry, would be
 *    a server-side request forgery and a credential leak. Those are refused with an error that says so.
 * The realm check applies to the address the name resolves to as well (see `refusedAddress`, which the
 * transport applies at connect time), so a name pointing at 169.254.169.254 is refused too.
 */
import { BlockList, isIP } from 'node:net';
import { MeshwasmError } from '../../errors.js';

/** Cloud metadata services and link-local ranges (AWS, GCP, Azure, OCI, OpenStack, Alibaba Cloud). */
const metadata = new BlockList();
metadata.addSubnet('169.254.0.0', 16, 'ipv4'); // IPv4 link-local, 169.254.169.254 on most clouds
metadata.addAddress('100.100.100.200', 'ipv4'); // Alibaba Cloud ECS metadata
metadata.addSubnet('fe80::', 10, 'ipv6'); // IPv6 link-local
metadata.addAddress('fd00:ec2::254', 'ipv6'); // AWS IMDS over IPv6
const METADATA_NAMES = new Set(['metadata.google.internal', 'metadata.goog', 'metadata']);

const loopback = new BlockList();
loopback.addSubnet('127.0.0.0', 8, 'ipv4');
loopback.addAddress('::1', 'ipv6');

const bare = (hostname: string) => hostname.replace(/^\[|\]$/g, '').toLowerCase();

function family(address: string): 'ipv4' | 'ipv6' | undefined {
  const v = isIP(address);
  return v === 4 ? 'ipv4' : v === 6 ? 'ipv6' : undefined;
}

/** Why an IP address may not receive credentials (undefined: it may). */
export function refusedAddress(address: string): string | undefined {
  const f = family(address);
  if (f && metadata.check(address, f)) return 'a link-local or cloud metadata address';
  return undefined;
}

function isLoopback(hostname: string): boolean {
  const h = bare(hostname);
  const f = family(h);
  return h === 'localhost' || h.endsWith('.localhost') || (f !== undefined && loopback.check(h, f));
}

/** The check the transport applies to each address a realm's name resolves to. */
export function realmAddressGuard(registryBase: URL): (address: string) => string | undefined {
  const remoteRegistry = !isLoopback(registryBase.hostname);
  return (address) =>
    refusedAddress(address) ??
    (remoteRegistry && isLoopback(address)
      ? "this machine's loopback (the registry is elsewhere)"
      : undefined);
}

/** The realm URL to fetch tokens from, or a REGISTRY error saying why it is refused. */
export function checkRealm(realm: string, registry: string, registryBase: URL): URL {
  let url: URL;
  try {
    url = new URL(realm);
  } catch {
    throw new MeshwasmError('REGISTRY', `${registry}: the Bearer realm "${realm}" is not a URL`);
  }
  const refuse = (why: string) =>
    new MeshwasmError('REGISTRY', `${registry}: refusing the Bearer realm ${url.origin}: ${why}`, {
      hint: 'the registry (or something answering for it) points token requests, with your credentials, somewhere they must not go; check the registry address and its token service configuration',
    });
  if (url.protocol !== 'https:' && url.protocol !== 'http:')
    throw refuse('only http and https realms are used');
  if (url.protocol === 'http:' && registryBase.protocol === 'https:')
    throw refuse('it is plain http while the registry is https (credentials would travel unencrypted)');
  const host = bare(url.hostname);
  if (METADATA_NAMES.has(host)) throw refuse('it is a cloud metadata service');
  const why = refusedAddress(host);
  if (why) throw refuse(`it is ${why}`);
  if (isLoopback(host) && !isLoopback(registryBase.hostname))
    throw refuse("it is this machine's loopback while the registry is elsewhere");
  return url;
}

/** What a redirect may do: follow it, and whether the Authorization header goes along. */
export function checkRedirect(
  registry: string,
  origin: URL,
  to: URL,
  options: { plainHttp: boolean },
): { sendAuthorization: boolean } {
  if (to.protocol !== 'https:' && to.protocol !== 'http:')
    throw new MeshwasmError('REGISTRY', `${registry}: refusing a redirect to ${to.protocol} (${to.origin})`);
  if (origin.protocol === 'https:' && to.protocol === 'http:' && !options.plainHttp)
    throw new MeshwasmError(
      'REGISTRY',
      `${registry}: refusing a redirect from https to plain http (${to.origin}${to.pathname})`,
      {
        hint: 'the registry downgrades the connection; fix its redirect, or pass --plain-http if this registry is meant to be used over plain HTTP',
      },
    );
  // URL.origin normalises default ports, so https://r and https://r:443 are one origin, http://r another.
  return { sendAuthorization: origin.origin === to.origin };
}
