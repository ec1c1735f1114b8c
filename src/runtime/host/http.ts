/** proxy_http_call, plus the call families this host does not offer (gRPC, foreign functions). */
import { Status } from '../abi.js';
import { deserializePairs, getHeader } from '../pairs.js';
import { u32, type HostGroup, type VmRef } from './guard.js';

export function httpImports(vm: VmRef): HostGroup {
  const noGrpc = (): number => {
    vm().log('warn', 'gRPC calls are not supported by the meshwasm host; use proxy_http_call');
    return Status.UNIMPLEMENTED;
  };
  return {
    proxy_http_call(
      nPtr: number,
      nLen: number,
      hPtr: number,
      hLen: number,
      bPtr: number,
      bLen: number,
      tPtr: number,
      tLen: number,
      timeout: number,
      retToken: number,
    ) {
      const v = vm();
      const cluster = v.memory.string(u32(nPtr), u32(nLen));
      const headers = deserializePairs(v.memory.bytes(u32(hPtr), u32(hLen)));
      const trailers = deserializePairs(v.memory.bytes(u32(tPtr), u32(tLen)));
      const body = v.memory.bytes(u32(bPtr), u32(bLen));
      if (!headers || !trailers) return Status.BAD_ARGUMENT;
      const lower = headers.map(([k, val]): [string, string] => [k.toLowerCase(), val]);
      // The spec requires these three pseudo-headers; Envoy rejects the call without them.
      for (const required of [':method', ':path', ':authority']) {
        if (getHeader(lower, required) === undefined) {
          v.log('warn', `proxy_http_call to "${cluster}" lacks the ${required} header`);
          return Status.BAD_ARGUMENT;
        }
      }
      if (!v.settings.io.hasCluster(cluster)) {
        v.log(
          'warn',
          `proxy_http_call to unknown cluster "${cluster}" (name it with --cluster ${cluster}=URL)`,
        );
        return Status.BAD_ARGUMENT;
      }
      const token = v.nextToken++;
      v.memory.setU32(u32(retToken), token);
      v.callouts.set(token, v.current.id);
      const request = { cluster, headers: lower, body, trailers, timeoutMs: u32(timeout) };
      v.settings.io.httpCall(request, (response) => v.deliverCallResponse(token, response));
      return Status.OK;
    },
    proxy_grpc_call: noGrpc,
    proxy_grpc_stream: noGrpc,
    proxy_grpc_send: noGrpc,
    proxy_grpc_cancel: noGrpc,
    proxy_grpc_close: noGrpc,
    // No foreign functions are registered in this host, which the spec answers with NOT_FOUND.
    proxy_call_foreign_function: () => Status.NOT_FOUND,
  };
}
