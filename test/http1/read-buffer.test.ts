/**
 * ReadBuffer as net's onread uses it: the socket asks for the next buffer right after each read, so a
 * shrink() between two reads must not change where the next read's bytes are taken from.
 */
import { expect, it } from 'vitest';
import { ReadBuffer } from '../../src/http1/read-buffer.js';

/** What the socket does: read `bytes` into the buffer it holds, report them, then ask for the next. */
function socketRead(reads: ReadBuffer, holding: Buffer, bytes: Buffer): { chunk: Buffer; next: Buffer } {
  bytes.copy(holding);
  const chunk = reads.take(bytes.length, holding);
  return { chunk, next: reads.current };
}

it('takes a read from the buffer it went into, even when shrink() ran since that buffer was handed out', () => {
  const reads = new ReadBuffer();
  let holding = reads.current;
  const large = Buffer.alloc(holding.length, 7); // fills the small buffer: large buffers from now on
  let read = socketRead(reads, holding, large);
  expect(read.chunk.equals(large)).toBe(true);
  holding = read.next;
  expect(holding.length).toBe(1024 * 1024);
  reads.shrink(); // the connection went idle between two reads (a reply left, say)
  read = socketRead(reads, holding, Buffer.from('GET / HTTP/1.1\r\n'));
  expect(read.chunk.toString()).toBe('GET / HTTP/1.1\r\n');
  expect(read.next.length).toBe(64 * 1024); // and the small buffer is handed out from then on
});

it('hands out a large read as a view (a new buffer follows) and copies a small one out (the buffer is reused)', () => {
  const reads = new ReadBuffer();
  const first = reads.current;
  const big = socketRead(reads, first, Buffer.alloc(first.length, 1));
  expect(big.chunk.buffer).toBe(first.buffer);
  expect(big.next).not.toBe(first);
  const small = socketRead(reads, big.next, Buffer.from('x'));
  expect(small.chunk.buffer).not.toBe(big.next.buffer);
  expect(small.chunk.toString()).toBe('x');
  expect(small.next).toBe(big.next);
});

it('carves a slab read by read: views that do not overlap, then a fresh slab when little is left', () => {
  const reads = new ReadBuffer();
  // A streaming peer: the first read fills the small buffer, so a 1 MiB slab follows.
  let holding = socketRead(reads, reads.current, Buffer.alloc(64 * 1024, 0)).next;
  const slab = holding.buffer;
  expect(holding.length).toBe(1024 * 1024);
  const chunks: Buffer[] = [];
  for (let i = 1; i <= 24; i++) {
    const read = socketRead(reads, holding, Buffer.alloc(40 * 1024, i));
    chunks.push(read.chunk);
    holding = read.next;
  }
  // The slab holds 24 reads of 40 KiB: 64 KiB is then left, less than two more reads, so a fresh slab.
  expect(chunks.every((c) => c.buffer === slab)).toBe(true);
  expect(chunks.every((c, i) => c.length === 40 * 1024 && c.every((b) => b === i + 1))).toBe(true);
  expect(holding.buffer).not.toBe(slab);
  expect(holding.length).toBe(1024 * 1024);
});

it('hands a fast peer a fresh slab, not the tail of one (fewer, larger reads)', () => {
  const reads = new ReadBuffer();
  let holding = socketRead(reads, reads.current, Buffer.alloc(64 * 1024, 0)).next;
  const first = holding.buffer;
  holding = socketRead(reads, holding, Buffer.alloc(600 * 1024, 1)).next; // 424 KiB left: not two more
  expect(holding.buffer).not.toBe(first);
  expect(holding.length).toBe(1024 * 1024);
});

it('gives back a slab on shrink() even when only its rest is left to hand out', () => {
  const reads = new ReadBuffer();
  let holding = socketRead(reads, reads.current, Buffer.alloc(64 * 1024, 0)).next;
  holding = socketRead(reads, holding, Buffer.alloc(40 * 1024, 1)).next;
  expect(holding.length).toBe(984 * 1024); // the rest of the slab
  reads.shrink();
  expect(reads.current.buffer.byteLength).toBe(64 * 1024);
});
