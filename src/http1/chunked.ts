/**
 * The chunked transfer coding (RFC 9112 section 7.1): writing it (writeChunk, lastChunk), and a
 * decoder that works on whatever pieces the socket hands over: a size line, a CRLF or the trailer
 * section may be split across reads. Chunk data is returned as views of the input (never copied);
 * extensions are ignored, as every proxy does.
 */
import type { Socket } from 'node:net';
import { MalformedResponse, parseFields } from './head.js';

/** Writes one chunk of a chunked body (size line, data, CRLF); returns what the socket's last write did. */
export function writeChunk(socket: Socket, chunk: Uint8Array): boolean {
  socket.write(`${chunk.length.toString(16)}\r\n`, 'latin1');
  socket.write(chunk);
  return socket.write('\r\n', 'latin1');
}

/** The last chunk and the trailer section that end a chunked body. */
export function lastChunk(trailers: Record<string, string | string[]> | undefined): string {
  let text = '0\r\n';
  for (const [name, value] of Object.entries(trailers ?? {}))
    for (const v of Array.isArray(value) ? value : [value]) text += `${name}: ${v}\r\n`;
  return `${text}\r\n`;
}

/** Longest size line (with extensions) and trailer section accepted. */
const MAX_LINE_BYTES = 4096;
const MAX_TRAILER_BYTES = 64 * 1024;
// 13 hex digits: below 2^53, so the size is exact as a number.
const SIZE = /^([0-9A-Fa-f]{1,13})[\t ]*(?:;.*)?$/;

type State = 'size' | 'data' | 'data-crlf' | 'trailers' | 'done';

export class ChunkedDecoder {
  private state: State = 'size';
  /** Bytes of the current chunk still to come. */
  private left = 0;
  /** The part of a line (size or trailer) read so far, latin1. */
  private line = '';
  private readonly trailerLines: string[] = [];
  private trailerBytes = 0;
  /** CR of the CRLF after chunk data has been seen. */
  private sawCr = false;
  /** Trailer fields ([name, value, ...]) once done. */
  rawTrailers: string[] = [];

  get done(): boolean {
    return this.state === 'done';
  }

  /**
   * Decodes `data`, pushing the chunk data it holds onto `out`. Returns the index just past the end of
   * the message once the last chunk and trailers are complete (bytes after it are not this message's),
   * or -1 while more is expected. Throws MalformedResponse on a framing error.
   */
  decode(data: Uint8Array, out: Uint8Array[]): number {
    let i = 0;
    while (i < data.length) {
      switch (this.state) {
        case 'data': {
          const n = Math.min(this.left, data.length - i);
          out.push(data.subarray(i, i + n));
          i += n;
          this.left -= n;
          if (this.left === 0) this.state = 'data-crlf';
          break;
        }
        case 'data-crlf': {
          const byte = data[i++];
          if (!this.sawCr && byte === 13) this.sawCr = true;
          else if (this.sawCr && byte === 10) {
            this.sawCr = false;
            this.state = 'size';
          } else throw new MalformedResponse('chunked body: chunk data is not followed by CRLF');
          break;
        }
        case 'size':
        case 'trailers': {
          const line = this.readLine(data, i);
          i = line.next;
          if (line.text !== undefined) this.onLine(line.text);
          break;
        }
        case 'done':
          return i;
      }
    }
    return this.state === 'done' ? i : -1;
  }

  /** Reads up to the end of a CRLF-terminated line; `text` is the whole line once it is complete. */
  private readLine(data: Uint8Array, from: number): { next: number; text?: string } {
    const lf = data.indexOf(10, from);
    const end = lf < 0 ? data.length : lf + 1;
    this.line += Buffer.from(data.buffer, data.byteOffset + from, end - from).toString('latin1');
    const limit = this.state === 'size' ? MAX_LINE_BYTES : MAX_TRAILER_BYTES - this.trailerBytes;
    if (this.line.length > limit)
      throw new MalformedResponse(
        this.state === 'size'
          ? `chunked body: a chunk size line is longer than ${MAX_LINE_BYTES} bytes`
          : `chunked body: the trailers are larger than ${MAX_TRAILER_BYTES} bytes`,
      );
    if (lf < 0) return { next: end };
    const line = this.line;
    this.line = '';
    if (!line.endsWith('\r\n')) throw new MalformedResponse('chunked body: a line ends in LF without CR');
    return { next: end, text: line.slice(0, -2) };
  }

  private onLine(text: string): void {
    if (this.state === 'trailers') {
      if (text === '') {
        this.rawTrailers = parseFields(this.trailerLines, 'chunked trailers');
        this.state = 'done';
        return;
      }
      this.trailerBytes += text.length + 2;
      this.trailerLines.push(text);
      return;
    }
    const size = SIZE.exec(text);
    if (!size)
      throw new MalformedResponse(`chunked body: ${JSON.stringify(text.slice(0, 40))} is not a chunk size`);
    this.left = parseInt(size[1]!, 16);
    this.state = this.left === 0 ? 'trailers' : 'data';
  }
}
