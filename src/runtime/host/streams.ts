/** Context and stream control: effective context, proxy_done, continue/close, local responses, status. */
import { Status, StreamType } from '../abi.js';
import { deserializePairs } from '../pairs.js';
import { u32, type HostGroup, type VmRef } from './guard.js';

export function streamImports(vm: VmRef): HostGroup {
  const continueStream = (type: number): number => {
    const stream = vm().current.stream;
    if (type !== StreamType.HTTP_REQUEST && type !== StreamType.HTTP_RESPONSE) {
      // TCP streams (DOWNSTREAM/UPSTREAM) do not exist in an HTTP-only host.
      return type === StreamType.DOWNSTREAM || type === StreamType.UPSTREAM
        ? Status.UNIMPLEMENTED
        : Status.BAD_ARGUMENT;
    }
    if (!stream) return Status.NOT_FOUND;
    stream.resume(type === StreamType.HTTP_REQUEST ? 'request' : 'response', 'continue');
    return Status.OK;
  };
  return {
    proxy_set_effective_context(id: number) {
      const v = vm();
      const ctx = v.contexts.get(u32(id));
      if (!ctx) return Status.BAD_ARGUMENT;
      v.current = ctx;
      return Status.OK;
    },
    proxy_done() {
      const v = vm();
      if (!v.current.awaitingDone) return Status.NOT_FOUND;
      v.deleteContext(v.current);
      return Status.OK;
    },
    proxy_continue_stream: continueStream,
    // ABI 0.1.0 spelled these as two calls.
    proxy_continue_request: () => continueStream(StreamType.HTTP_REQUEST),
    proxy_continue_response: () => continueStream(StreamType.HTTP_RESPONSE),
    proxy_close_stream(type: number) {
      if (type < 0 || type > 3) return Status.BAD_ARGUMENT;
      const stream = vm().current.stream;
      if (!stream) return Status.NOT_FOUND;
      stream.reset = true;
      stream.resumeAll('reset');
      return Status.OK;
    },
    // Envoy recomputes the route after header changes; this host has one upstream, so nothing to clear.
    proxy_clear_route_cache: () => Status.OK,
    proxy_send_local_response(
      status: number,
      dPtr: number,
      dLen: number,
      bPtr: number,
      bLen: number,
      hPtr: number,
      hLen: number,
      grpcStatus: number,
    ) {
      const v = vm();
      const stream = v.current.stream;
      if (!stream) return Status.NOT_FOUND;
      const headers = deserializePairs(v.memory.bytes(u32(hPtr), u32(hLen)));
      if (!headers) return Status.BAD_ARGUMENT;
      stream.localResponse = {
        status: u32(status),
        details: v.memory.string(u32(dPtr), u32(dLen)),
        body: v.memory.bytes(u32(bPtr), u32(bLen)),
        headers: headers.map(([k, val]) => [k.toLowerCase(), val]),
        grpcStatus,
      };
      stream.resumeAll('local');
      return Status.OK;
    },
    proxy_get_status(retCode: number, retPtr: number, retSize: number) {
      const v = vm();
      const call = v.callResponse;
      // Outside an http-call response there is no status to report; a failed call reports 0.
      v.memory.setU32(u32(retCode), call?.status ?? 0);
      v.memory.returnBytes('', u32(retPtr), u32(retSize));
      return Status.OK;
    },
  };
}
