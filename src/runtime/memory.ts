/**
 * All access to a module's linear memory goes through here, so every host function checks bounds the
 * same way: an out-of-range pointer raises MemoryFault, which the host turns into INVALID_MEMORY_ACCESS
 * (or WASI's FAULT) instead of reading garbage. Views are rebuilt whenever the memory has grown.
 */
export class MemoryFault extends Error {
  constructor(ptr: number, len: number) {
    super(`guest memory access out of bounds: ${len} bytes at ${ptr}`);
  }
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/**
 * Header names and values are short and ASCII: checked in JS and made by Buffer's latin1 slice (one
 * flat string), which beats a call into the UTF-8 decoder. (Building them a character at a time made a
 * chain of string pieces per character, garbage by the next request.)
 */
const SHORT_ASCII = 64;

function isAscii(u8: Uint8Array, ptr: number, len: number): boolean {
  for (let i = ptr; i < ptr + len; i++) if (u8[i]! >= 0x80) return false;
  return true;
}

export class GuestMemory {
  private memory: WebAssembly.Memory | undefined;
  private buffer: ArrayBuffer | undefined;
  private u8 = new Uint8Array(0);
  /** The same bytes as a Buffer, for its latin1 slices. */
  private nodeBuf = Buffer.alloc(0);
  private dv = new DataView(new ArrayBuffer(0));
  /** Allocates inside the guest (proxy_on_memory_allocate or malloc); set once the instance exists. */
  allocate: (size: number) => number = () => 0;

  bind(memory: WebAssembly.Memory): void {
    this.memory = memory;
    this.buffer = undefined;
  }

  private refresh(): void {
    const buf = this.memory?.buffer;
    if (buf && buf !== this.buffer) {
      this.buffer = buf as ArrayBuffer;
      this.u8 = new Uint8Array(buf);
      this.nodeBuf = Buffer.from(buf);
      this.dv = new DataView(buf);
    }
  }

  private check(ptr: number, len: number): void {
    // Growing the memory detaches the old buffer (its views drop to length 0), so the buffer getter
    // is only worth asking when the view is empty or too short for this access.
    if (this.u8.length === 0 || ptr + len > this.u8.length) this.refresh();
    if (ptr < 0 || len < 0 || ptr + len > this.u8.length) throw new MemoryFault(ptr, len);
  }

  /** A copy of guest bytes (the guest may reuse its memory as soon as the call returns). */
  bytes(ptr: number, len: number): Uint8Array {
    this.check(ptr, len);
    return this.u8.slice(ptr, ptr + len);
  }

  string(ptr: number, len: number): string {
    this.check(ptr, len);
    return len <= SHORT_ASCII && isAscii(this.u8, ptr, len)
      ? this.nodeBuf.toString('latin1', ptr, ptr + len)
      : this.utf8(ptr, len);
  }

  private utf8(ptr: number, len: number): string {
    return decoder.decode(this.u8.subarray(ptr, ptr + len));
  }

  u32(ptr: number): number {
    this.check(ptr, 4);
    return this.dv.getUint32(ptr, true);
  }

  setU32(ptr: number, value: number): void {
    this.check(ptr, 4);
    this.dv.setUint32(ptr, value >>> 0, true);
  }

  setU64(ptr: number, value: bigint): void {
    this.check(ptr, 8);
    this.dv.setBigUint64(ptr, BigInt.asUintN(64, value), true);
  }

  write(ptr: number, data: Uint8Array): void {
    this.check(ptr, data.length);
    this.u8.set(data, ptr);
  }

  /**
   * Copies bytes into freshly allocated guest memory and stores (pointer, size) at the two return
   * slots, the way every ABI getter hands data back. Empty values need no allocation.
   */
  returnBytes(data: Uint8Array | string, ptrPtr: number, sizePtr: number): void {
    const bytes = typeof data === 'string' ? encoder.encode(data) : data;
    // Validate the return slots before allocating, so a bad pointer does not leak guest memory.
    this.check(ptrPtr, 4);
    this.check(sizePtr, 4);
    let ptr = 0;
    if (bytes.length > 0) {
      ptr = this.allocate(bytes.length) >>> 0;
      if (ptr === 0) throw new MemoryFault(0, bytes.length);
      this.write(ptr, bytes);
    }
    this.setU32(ptrPtr, ptr);
    this.setU32(sizePtr, bytes.length);
  }
}
