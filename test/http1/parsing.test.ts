/**
 * The HTTP/1.1 client's parsing on its own: response heads and their body framing, and the
 * chunked decoder fed every way a socket can split its input.
 */
import { describe, expect, it } from 'vitest';
import { ChunkedDecoder } from '../../src/http1/chunked.js';
import { MalformedResponse, parseResponseHead } from '../../src/http1/head.js';

const head = (lines: string[], method = 'GET') => parseResponseHead(`${lines.join('\r\n')}\r\n\r\n`, method);

/** Decodes `input` fed in pieces of `step` bytes; returns the body, trailers and bytes left after it. */
function decode(input: string, step = input.length) {
  const bytes = Buffer.from(input, 'latin1');
  const decoder = new ChunkedDecoder();
  const out: Uint8Array[] = [];
  let rest = '';
  for (let i = 0; i < bytes.length; i += step) {
    const piece = bytes.subarray(i, i + step);
    const end = decoder.decode(piece, out);
    if (end >= 0) {
      rest = Buffer.concat([piece.subarray(end), bytes.subarray(i + step)]).toString('latin1');
      break;
    }
  }
  return {
    done: decoder.done,
    body: Buffer.concat(out).toString('latin1'),
    trailers: decoder.rawTrailers,
    rest,
  };
}

describe('response head', () => {
  it('reads status, raw headers in their case, joined lookups, and the framing', () => {
    const h = head(['HTTP/1.1 200 OK', 'Content-Length: 5', 'Set-Cookie: a=1', 'set-cookie: b=2']);
    expect(h.statusCode).toBe(200);
    expect(h.rawHeaders).toEqual(['Content-Length', '5', 'Set-Cookie', 'a=1', 'set-cookie', 'b=2']);
    expect(h.headers['set-cookie']).toBe('a=1, b=2');
    expect(h.framing).toEqual({ kind: 'length', length: 5 });
    expect(h.keepAlive).toBe(true);
  });

  it('frames by RFC 9112: none for HEAD, 204, 304; chunked wins; else up to the close', () => {
    expect(head(['HTTP/1.1 200 OK', 'content-length: 9'], 'HEAD').framing.kind).toBe('none');
    expect(head(['HTTP/1.1 204 No Content']).framing.kind).toBe('none');
    expect(head(['HTTP/1.1 304 Not Modified', 'content-length: 9']).framing.kind).toBe('none');
    const both = head(['HTTP/1.1 200 OK', 'transfer-encoding: chunked', 'content-length: 9']);
    expect(both.framing.kind).toBe('chunked');
    expect(both.keepAlive).toBe(false); // a sender that says both is not trusted with another request
    expect(head(['HTTP/1.1 200 OK', 'transfer-encoding: gzip']).framing.kind).toBe('close');
    const close = head(['HTTP/1.1 200 OK']);
    expect(close.framing.kind).toBe('close');
    expect(close.keepAlive).toBe(false);
    expect(head(['HTTP/1.1 200 OK', 'content-length: 3, 3']).framing).toEqual({ kind: 'length', length: 3 });
  });

  it('keeps the connection by version and connection header', () => {
    expect(head(['HTTP/1.1 200 OK', 'connection: close', 'content-length: 0']).keepAlive).toBe(false);
    expect(head(['HTTP/1.0 200 OK', 'content-length: 0']).keepAlive).toBe(false);
    expect(head(['HTTP/1.0 200 OK', 'connection: keep-alive', 'content-length: 0']).keepAlive).toBe(true);
  });

  it('refuses what could desynchronise the connection, saying what is wrong', () => {
    const bad: Array<[string[], RegExp]> = [
      [['HTTP/2 200'], /status line "HTTP\/2 200"/],
      [['HTTP/1.1 20 OK'], /status line/],
      [['HTTP/1.1 200 OK', 'content-length: 3, 4'], /content-length "3, 4" is not one decimal length/],
      [['HTTP/1.1 200 OK', 'content-length: -1'], /content-length/],
      [['HTTP/1.1 200 OK', 'bad header'], /invalid header line "bad header"/],
      [['HTTP/1.1 200 OK', 'a b: c'], /invalid header line/],
      [['HTTP/1.1 200 OK', 'x: 1', ' folded'], /folded header line/],
      [['HTTP/1.1 200 OK', 'x: a\x01b'], /header "x" has a control character/],
    ];
    for (const [lines, message] of bad) {
      expect(() => head(lines)).toThrow(MalformedResponse);
      expect(() => head(lines)).toThrow(message);
    }
  });
});

describe('chunked decoder', () => {
  const message = '5\r\nhello\r\n7;ext=1\r\n, world\r\nA\r\n0123456789\r\n0\r\n\r\n';

  it('decodes the same body whatever the socket splits (every byte apart included)', () => {
    for (const step of [1, 2, 3, 5, 7, 16, message.length]) {
      const r = decode(message, step);
      expect(r).toEqual({ done: true, body: 'hello, world0123456789', trailers: [], rest: '' });
    }
  });

  it('reads trailers, and leaves bytes after the end for the caller', () => {
    const r = decode('3\r\nabc\r\n0\r\nx-checksum: 42\r\nX-Other: b\r\n\r\nHTTP/1.1 200', 4);
    expect(r.body).toBe('abc');
    expect(r.trailers).toEqual(['x-checksum', '42', 'X-Other', 'b']);
    expect(r.rest).toBe('HTTP/1.1 200');
  });

  it('accepts upper-case hex and whitespace before extensions; is not done before the last chunk', () => {
    expect(decode('1F \t;name="v"\r\n' + 'x'.repeat(31) + '\r\n0\r\n\r\n').body).toBe('x'.repeat(31));
    const partial = decode('3\r\nabc\r\n');
    expect(partial.done).toBe(false);
    expect(partial.body).toBe('abc');
  });

  it('refuses framing errors with the reason', () => {
    const bad: Array<[string, RegExp]> = [
      ['zz\r\n', /"zz" is not a chunk size/],
      ['\r\n', /"" is not a chunk size/],
      ['3\r\nabcX\r\n', /chunk data is not followed by CRLF/],
      ['3\nabc\r\n', /ends in LF without CR/],
      ['12345678901234\r\n', /is not a chunk size/], // more than 13 hex digits: not exact as a number
      [`${'1'.repeat(5000)}`, /size line is longer than 4096 bytes/],
      [`0\r\n${'x: y\r\n'.repeat(12000)}`, /trailers are larger than 65536 bytes/],
      ['0\r\nnot a field\r\n\r\n', /chunked trailers: invalid header line/],
    ];
    for (const [input, reason] of bad) {
      for (const step of [1, input.length]) {
        const run = () => decode(input, step);
        expect(run).toThrow(MalformedResponse);
        expect(run).toThrow(reason);
      }
    }
  });
});
