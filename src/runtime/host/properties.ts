/** proxy_get_property / proxy_set_property. */
import { Status } from '../abi.js';
import { propertyKey, readProperty } from '../properties.js';
import { u32, type HostGroup, type VmRef } from './guard.js';

export function propertyImports(vm: VmRef): HostGroup {
  return {
    proxy_get_property(pPtr: number, pLen: number, retPtr: number, retSize: number) {
      const v = vm();
      const key = propertyKey(v.memory.string(u32(pPtr), u32(pLen)));
      const { name, rootId, vmId } = v.settings;
      const value = readProperty(key, v.current.stream, { name, rootId, vmId });
      if (value === undefined) return Status.NOT_FOUND;
      v.memory.returnBytes(value, u32(retPtr), u32(retSize));
      return Status.OK;
    },
    // Filters use this to pass values along the stream (e.g. to a later filter or to on_log).
    proxy_set_property(pPtr: number, pLen: number, vPtr: number, vLen: number) {
      const v = vm();
      const stream = v.current.stream;
      if (!stream) return Status.NOT_FOUND;
      stream.setProperty(
        propertyKey(v.memory.string(u32(pPtr), u32(pLen))),
        v.memory.bytes(u32(vPtr), u32(vLen)),
      );
      return Status.OK;
    },
  };
}
