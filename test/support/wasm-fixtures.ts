/**
 * Valid WebAssembly modules of any size, without a compiler: the 8-byte header plus a custom section
 * (id 0) whose payload is `bytes` of pseudo-random data. Distinct seeds give distinct modules.
 */
import { createHash } from 'node:crypto';

export function leb128(n: number): number[] {
  const out: number[] = [];
  do {
    let byte = n & 0x7f;
    n = Math.floor(n / 128);
    if (n > 0) byte |= 0x80;
    out.push(byte);
  } while (n > 0);
  return out;
}

export function moduleWithCustomSection(bytes: number, seed = 'meshwasm'): Buffer {
  const name = Buffer.from('meshwasm.padding');
  const payload = Buffer.alloc(bytes);
  let block = createHash('sha256').update(seed).digest();
  for (let off = 0; off < bytes; off += block.length) {
    block.copy(payload, off);
    block = createHash('sha256').update(block).digest();
  }
  const content = Buffer.concat([Buffer.from(leb128(name.length)), name, payload]);
  return Buffer.concat([
    Buffer.from([0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00, 0x00]),
    Buffer.from(leb128(content.length)),
    content,
  ]);
}

/** (module (func (export "proxy_abi_version_0_2_1")) ...) compiled by hand: a type and a function. */
export function tinyProxyModule(): Buffer {
  const name = Buffer.from('proxy_abi_version_0_2_1');
  const sections = [
    [0x01, ...withSize([0x01, 0x60, 0x00, 0x00])], // type: () -> ()
    [0x03, ...withSize([0x01, 0x00])], // function 0 has type 0
    [0x07, ...withSize([0x01, ...leb128(name.length), ...name, 0x00, 0x00])], // export func 0
    [0x0a, ...withSize([0x01, ...withSize([0x00, 0x0b])])], // code: no locals, end
  ];
  return Buffer.from([0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00, ...sections.flat()]);
}

function withSize(bytes: number[]): number[] {
  return [...leb128(bytes.length), ...bytes];
}
