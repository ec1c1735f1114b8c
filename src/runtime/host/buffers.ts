/** Buffer host functions: bodies, plugin and VM configuration, http-call response body. */
import { BufferType, Status } from '../abi.js';
import type { FilterVm } from '../vm.js';
import { u32, type HostGroup, type VmRef } from './guard.js';

/** null: unknown buffer type; undefined: not available here. */
function bufferFor(v: FilterVm, type: number): Uint8Array | undefined | null {
  switch (type) {
    case BufferType.HTTP_REQUEST_BODY:
      return v.current.stream?.requestBody;
    case BufferType.HTTP_RESPONSE_BODY:
      return v.current.stream?.responseBody;
    case BufferType.HTTP_CALL_RESPONSE_BODY:
      return v.callResponse?.body;
    case BufferType.VM_CONFIGURATION:
      return v.settings.vmConfiguration;
    case BufferType.PLUGIN_CONFIGURATION:
      return v.settings.configuration;
    case BufferType.DOWNSTREAM_DATA:
    case BufferType.UPSTREAM_DATA:
    case BufferType.GRPC_CALL_MESSAGE:
    case BufferType.FOREIGN_FUNCTION_ARGUMENTS:
      return undefined;
    default:
      return null;
  }
}

export function bufferImports(vm: VmRef): HostGroup {
  return {
    proxy_get_buffer_status(type: number, retSize: number, retFlags: number) {
      const v = vm();
      const buf = bufferFor(v, type);
      if (buf === null) return Status.BAD_ARGUMENT;
      if (buf === undefined) return Status.NOT_FOUND;
      v.memory.setU32(u32(retSize), buf.length);
      v.memory.setU32(u32(retFlags), 0);
      return Status.OK;
    },
    proxy_get_buffer_bytes(type: number, start: number, maxSize: number, retPtr: number, retSize: number) {
      const v = vm();
      const buf = bufferFor(v, type);
      if (buf === null) return Status.BAD_ARGUMENT;
      if (buf === undefined) return Status.NOT_FOUND;
      const from = u32(start);
      if (from > buf.length) return Status.BAD_ARGUMENT;
      // SDKs commonly ask for "everything" with a large max_size; clamp to what exists.
      const to = Math.min(buf.length, from + u32(maxSize));
      v.memory.returnBytes(buf.subarray(from, to), u32(retPtr), u32(retSize));
      return Status.OK;
    },
    proxy_set_buffer_bytes(type: number, start: number, size: number, ptr: number, len: number) {
      const v = vm();
      const stream = v.current.stream;
      const direction =
        type === BufferType.HTTP_REQUEST_BODY
          ? 'request'
          : type === BufferType.HTTP_RESPONSE_BODY
            ? 'response'
            : undefined;
      if (direction === undefined)
        return bufferFor(v, type) === null ? Status.BAD_ARGUMENT : Status.NOT_FOUND;
      if (!stream) return Status.NOT_FOUND;
      const value = v.memory.bytes(u32(ptr), u32(len));
      const current = stream.body(direction);
      // prepend (start 0, size 0), append (start >= length), or replace `size` bytes at `start`.
      const from = Math.min(u32(start), current.length);
      const to = Math.min(current.length, from + u32(size));
      const next = new Uint8Array(from + value.length + (current.length - to));
      next.set(current.subarray(0, from), 0);
      next.set(value, from);
      next.set(current.subarray(to), from + value.length);
      stream.setBody(direction, next);
      return Status.OK;
    },
    /** ABI 0.1.0: the plugin configuration through its own call. */
    proxy_get_configuration(retPtr: number, retSize: number) {
      const v = vm();
      v.memory.returnBytes(v.settings.configuration, u32(retPtr), u32(retSize));
      return Status.OK;
    },
  };
}
