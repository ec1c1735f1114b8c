/**
 * Envoy attributes a filter reads with proxy_get_property, encoded the way Envoy encodes them: strings
 * as raw bytes, integers as little-endian int64, booleans as one byte, maps as serialised header pairs,
 * timestamps as int64 nanoseconds. Pure: everything comes from the stream state and plugin settings.
 */
import { getHeader, serializePairs } from './pairs.js';
import type { StreamState } from './stream-state.js';

export interface PluginFacts {
  name: string;
  rootId: string;
  vmId: string;
}

const encoder = new TextEncoder();

function int64(n: number | bigint): Uint8Array {
  const out = new Uint8Array(8);
  new DataView(out.buffer).setBigInt64(0, BigInt(n), true);
  return out;
}

function str(s: string | undefined): Uint8Array | undefined {
  return s === undefined ? undefined : encoder.encode(s);
}

/** Path segments arrive NUL-separated (`request\0path`); some SDKs send `request.path` instead. */
export function propertyKey(raw: string): string {
  const segments = raw.split('\0').filter((s) => s.length > 0);
  return segments.length === 1 ? segments[0]! : segments.join('.');
}

export function readProperty(
  key: string,
  stream: StreamState | undefined,
  plugin: PluginFacts,
): Uint8Array | undefined {
  const custom = stream?.getProperty(key);
  if (custom) return custom;
  switch (key) {
    case 'plugin_name':
      return str(plugin.name);
    case 'plugin_root_id':
      return str(plugin.rootId);
    case 'plugin_vm_id':
      return str(plugin.vmId);
  }
  if (!stream) return undefined;
  const req = stream.requestHeaders;
  const path = getHeader(req, ':path');
  switch (key) {
    case 'request.path':
      return str(path);
    case 'request.url_path':
      return str(path?.split('?')[0]);
    case 'request.query': {
      const q = path?.indexOf('?') ?? -1;
      return q < 0 ? str('') : str(path!.slice(q + 1));
    }
    case 'request.host':
      return str(getHeader(req, ':authority') ?? getHeader(req, 'host'));
    case 'request.scheme':
      return str(getHeader(req, ':scheme'));
    case 'request.method':
      return str(getHeader(req, ':method'));
    case 'request.headers':
      return serializePairs(req);
    case 'request.referer':
      return str(getHeader(req, 'referer'));
    case 'request.useragent':
      return str(getHeader(req, 'user-agent'));
    case 'request.id':
      return str(getHeader(req, 'x-request-id') ?? stream.info.requestId);
    case 'request.protocol':
      return str(stream.info.protocol);
    case 'request.time':
      return stream.info.startTime ? int64(BigInt(stream.info.startTime.getTime()) * 1_000_000n) : undefined;
    case 'response.code': {
      const code = getHeader(stream.responseHeaders, ':status');
      return code === undefined ? undefined : int64(Number(code));
    }
    case 'response.code_details':
      return stream.responseCodeDetails ? str(stream.responseCodeDetails) : undefined;
    case 'response.headers':
      return serializePairs(stream.responseHeaders);
    case 'response.trailers':
      return serializePairs(stream.responseTrailers);
    case 'source.address':
      return str(hostPort(stream.info.sourceAddress, stream.info.sourcePort));
    case 'source.port':
      return stream.info.sourcePort === undefined ? undefined : int64(stream.info.sourcePort);
    case 'destination.address':
      return str(hostPort(stream.info.destinationAddress, stream.info.destinationPort));
    case 'destination.port':
      return stream.info.destinationPort === undefined ? undefined : int64(stream.info.destinationPort);
    case 'connection.mtls':
      return new Uint8Array([0]);
    default:
      return undefined;
  }
}

function hostPort(address: string | undefined, port: number | undefined): string | undefined {
  if (address === undefined) return undefined;
  if (port === undefined) return address;
  return address.includes(':') ? `[${address}]:${port}` : `${address}:${port}`;
}
