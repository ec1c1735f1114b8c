/**
 * The head of an HTTP/1.1 request as a client sent it (request line and header fields), and the framing
 * of its body by RFC 9112 section 6.3: chunked when transfer-encoding ends in chunked, a content-length,
 * otherwise none. As for responses (head.ts), anything that could make the client and the server
 * disagree about where the message ends is refused, here with the status the client gets back.
 */
import { contentLength, fieldRecord, keepsAlive, parseFields } from './head.js';

export type RequestFraming = { kind: 'none' } | { kind: 'length'; length: number } | { kind: 'chunked' };

export interface RequestHead {
  method: string;
  /** The request target as sent (origin form "/path?query", absolute form, or "*"). */
  target: string;
  version: '1.0' | '1.1';
  /** [name, value, name, value, ...] as sent (names in their own case). */
  rawHeaders: string[];
  /** Lower-case names; repeated fields joined with ", ". */
  headers: Record<string, string>;
  framing: RequestFraming;
  /** The client may send another request on this connection after this one. */
  keepAlive: boolean;
  /** The client waits for "100 Continue" before it sends the body. */
  expectContinue: boolean;
}

/** The request cannot be served as sent: `status` is what the client is told, the message why. */
export class BadRequest extends Error {
  override readonly name = 'BadRequest';
  constructor(
    readonly status: 400 | 408 | 417 | 431 | 501,
    message: string,
  ) {
    super(message);
  }
}

// Control characters are what the target may not hold.
// eslint-disable-next-line no-control-regex
const REQUEST_LINE = /^([!#$%&'*+.^_`|~0-9A-Za-z-]+) ([^\x00-\x20\x7f]+) HTTP\/1\.([01])$/;

/** Parses a complete head (`text` ends with the blank line, latin1-decoded). Throws BadRequest. */
export function parseRequestHead(text: string): RequestHead {
  const lines = text.split('\r\n');
  lines.length -= 2; // the blank line and what follows it
  const line = lines[0] ?? '';
  const request = REQUEST_LINE.exec(line);
  if (!request) {
    if (/ HTTP\/(?!1\.[01]$)\S+$/.test(line))
      throw new BadRequest(501, `HTTP version of ${JSON.stringify(line.slice(0, 80))} is not 1.0 or 1.1`);
    throw new BadRequest(
      400,
      `the request line ${JSON.stringify(line.slice(0, 80))} is not "METHOD target HTTP/1.x"`,
    );
  }
  let rawHeaders: string[];
  try {
    rawHeaders = parseFields(lines.slice(1), 'request head');
  } catch (err) {
    throw new BadRequest(400, (err as Error).message);
  }
  const headers = fieldRecord(rawHeaders);
  let hosts = 0;
  for (let i = 0; i < rawHeaders.length; i += 2) if (rawHeaders[i]!.toLowerCase() === 'host') hosts++;
  const version = request[3] === '1' ? '1.1' : '1.0';
  if (hosts > 1) throw new BadRequest(400, 'the request has more than one host header');
  if (version === '1.1' && hosts === 0) throw new BadRequest(400, 'an HTTP/1.1 request needs a host header');
  const keepAlive = keepsAlive(version, headers);
  const expect = headers.expect?.toLowerCase();
  if (expect !== undefined && expect !== '100-continue')
    throw new BadRequest(417, `expectation ${JSON.stringify(headers.expect)} is not supported`);
  return {
    method: request[1]!,
    target: request[2]!,
    version,
    rawHeaders,
    headers,
    framing: framingOf(headers),
    keepAlive,
    expectContinue: expect === '100-continue' && version === '1.1',
  };
}

function framingOf(headers: Record<string, string>): RequestFraming {
  const coding = headers['transfer-encoding'];
  const length = headers['content-length'];
  if (coding !== undefined) {
    // A length beside a coding is how request smuggling starts: refused, as Node and Envoy do.
    if (length !== undefined)
      throw new BadRequest(400, 'the request has both transfer-encoding and content-length');
    const last = coding.toLowerCase().split(',').at(-1)!.trim();
    if (last !== 'chunked')
      throw new BadRequest(400, `transfer-encoding ${JSON.stringify(coding)} does not end in chunked`);
    return { kind: 'chunked' };
  }
  if (length === undefined) return { kind: 'none' };
  const n = contentLength(length);
  if (n === undefined)
    throw new BadRequest(400, `content-length ${JSON.stringify(length)} is not one decimal length`);
  return n === 0 ? { kind: 'none' } : { kind: 'length', length: n };
}
