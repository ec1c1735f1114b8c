/** Header map host functions (request/response headers and trailers, http-call response maps). */
import { MapType, Status } from '../abi.js';
import {
  deserializePairs,
  getHeader,
  removeHeader,
  replaceHeader,
  serializePairs,
  type HeaderPairs,
} from '../pairs.js';
import type { FilterVm } from '../vm.js';
import { u32, type HostGroup, type VmRef } from './guard.js';

/** null: unknown map type (BAD_ARGUMENT); undefined: not available in this context (NOT_FOUND). */
function mapFor(v: FilterVm, type: number): HeaderPairs | undefined | null {
  const s = v.current.stream;
  switch (type) {
    case MapType.HTTP_REQUEST_HEADERS:
      return s?.requestHeaders;
    case MapType.HTTP_REQUEST_TRAILERS:
      return s?.requestTrailers;
    case MapType.HTTP_RESPONSE_HEADERS:
      return s?.responseHeaders;
    case MapType.HTTP_RESPONSE_TRAILERS:
      return s?.responseTrailers;
    case MapType.HTTP_CALL_RESPONSE_HEADERS:
      return v.callResponse?.headers;
    case MapType.HTTP_CALL_RESPONSE_TRAILERS:
      return v.callResponse?.trailers;
    case MapType.GRPC_CALL_INITIAL_METADATA:
    case MapType.GRPC_CALL_TRAILING_METADATA:
      return undefined;
    default:
      return null;
  }
}

function withMap(v: FilterVm, type: number, use: (pairs: HeaderPairs) => number): number {
  const pairs = mapFor(v, type);
  if (pairs === null) return Status.BAD_ARGUMENT;
  if (pairs === undefined) return Status.NOT_FOUND;
  return use(pairs);
}

export function mapImports(vm: VmRef): HostGroup {
  return {
    proxy_get_header_map_size(type: number, retSize: number) {
      const v = vm();
      return withMap(v, type, (pairs) => {
        v.memory.setU32(u32(retSize), serializePairs(pairs).length);
        return Status.OK;
      });
    },
    proxy_get_header_map_pairs(type: number, retPtr: number, retSize: number) {
      const v = vm();
      return withMap(v, type, (pairs) => {
        v.memory.returnBytes(serializePairs(pairs), u32(retPtr), u32(retSize));
        return Status.OK;
      });
    },
    proxy_set_header_map_pairs(type: number, ptr: number, len: number) {
      const v = vm();
      return withMap(v, type, (pairs) => {
        const next = deserializePairs(v.memory.bytes(u32(ptr), u32(len)));
        if (!next) return Status.BAD_ARGUMENT;
        pairs.splice(0, pairs.length, ...next.map(([k, val]): [string, string] => [k.toLowerCase(), val]));
        return Status.OK;
      });
    },
    proxy_get_header_map_value(type: number, kPtr: number, kLen: number, retPtr: number, retSize: number) {
      const v = vm();
      return withMap(v, type, (pairs) => {
        const value = getHeader(pairs, v.memory.string(u32(kPtr), u32(kLen)));
        if (value === undefined) return Status.NOT_FOUND;
        v.memory.returnBytes(value, u32(retPtr), u32(retSize));
        return Status.OK;
      });
    },
    proxy_add_header_map_value(type: number, kPtr: number, kLen: number, vPtr: number, vLen: number) {
      const v = vm();
      return withMap(v, type, (pairs) => {
        const key = v.memory.string(u32(kPtr), u32(kLen)).toLowerCase();
        pairs.push([key, v.memory.string(u32(vPtr), u32(vLen))]);
        return Status.OK;
      });
    },
    proxy_replace_header_map_value(type: number, kPtr: number, kLen: number, vPtr: number, vLen: number) {
      const v = vm();
      return withMap(v, type, (pairs) => {
        replaceHeader(pairs, v.memory.string(u32(kPtr), u32(kLen)), v.memory.string(u32(vPtr), u32(vLen)));
        return Status.OK;
      });
    },
    proxy_remove_header_map_value(type: number, kPtr: number, kLen: number) {
      const v = vm();
      return withMap(v, type, (pairs) => {
        removeHeader(pairs, v.memory.string(u32(kPtr), u32(kLen)));
        return Status.OK;
      });
    },
  };
}
