/** Shared data (with CAS) and shared queues. */
import { Status } from '../abi.js';
import { u32, type HostGroup, type VmRef } from './guard.js';

export function sharedImports(vm: VmRef): HostGroup {
  return {
    proxy_get_shared_data(kPtr: number, kLen: number, retPtr: number, retSize: number, retCas: number) {
      const v = vm();
      const entry = v.settings.shared.getData(v.settings.vmId, v.memory.string(u32(kPtr), u32(kLen)));
      if (!entry) return Status.NOT_FOUND;
      v.memory.setU32(u32(retCas), entry.cas);
      v.memory.returnBytes(entry.value, u32(retPtr), u32(retSize));
      return Status.OK;
    },
    proxy_set_shared_data(kPtr: number, kLen: number, vPtr: number, vLen: number, cas: number) {
      const v = vm();
      const key = v.memory.string(u32(kPtr), u32(kLen));
      return v.settings.shared.setData(v.settings.vmId, key, v.memory.bytes(u32(vPtr), u32(vLen)), u32(cas));
    },
    proxy_register_shared_queue(nPtr: number, nLen: number, retId: number) {
      const v = vm();
      v.memory.setU32(u32(retId), 0); // checks the slot before registering
      const id = v.settings.shared.registerQueue(
        v.settings.vmId,
        v.memory.string(u32(nPtr), u32(nLen)),
        v.queueListener,
      );
      v.memory.setU32(u32(retId), id);
      return Status.OK;
    },
    proxy_resolve_shared_queue(vPtr: number, vLen: number, nPtr: number, nLen: number, retId: number) {
      const v = vm();
      const vmId = v.memory.string(u32(vPtr), u32(vLen));
      const id = v.settings.shared.resolveQueue(vmId, v.memory.string(u32(nPtr), u32(nLen)));
      if (id === undefined) return Status.NOT_FOUND;
      v.memory.setU32(u32(retId), id);
      return Status.OK;
    },
    proxy_enqueue_shared_queue(id: number, vPtr: number, vLen: number) {
      const v = vm();
      return v.settings.shared.enqueue(u32(id), v.memory.bytes(u32(vPtr), u32(vLen)));
    },
    proxy_dequeue_shared_queue(id: number, retPtr: number, retSize: number) {
      const v = vm();
      const { status, value } = v.settings.shared.dequeue(u32(id));
      if (value) v.memory.returnBytes(value, u32(retPtr), u32(retSize));
      return status;
    },
  };
}
