/**
 * The head of an HTTP/1.1 response as the server sent it (status line and header fields), and the
 * framing of the body that follows, by RFC 9112 section 6.3: no body for HEAD, 1xx, 204 and 304;
 * chunked when transfer-encoding ends in chunked; a content-length; otherwise up to the close. Anything
 * that could make the client and the server disagree about where the message ends is refused.
 */

/** Largest response head accepted (Envoy's default header limit is 60 KiB). */
export const MAX_HEAD_BYTES = 64 * 1024;

export type Framing =
  | { kind: 'none' }
  | { kind: 'length'; length: number }
  | { kind: 'chunked' }
  /** Delimited by the end of the connection (no length, no chunked coding). */
  | { kind: 'close' };

export interface ResponseHead {
  statusCode: number;
  /** HTTP/1.0 or HTTP/1.1. */
  version: '1.0' | '1.1';
  /** [name, value, name, value, ...] as sent (names in their own case). */
  rawHeaders: string[];
  /** Lower-case names; repeated fields joined with ", " (set-cookie too: only lookups use this). */
  headers: Record<string, string>;
  framing: Framing;
  /** The connection may carry another request after this response. */
  keepAlive: boolean;
}

/** The server's response cannot be read; the message says what was wrong with it. */
export class MalformedResponse extends Error {
  override readonly name = 'MalformedResponse';
}

// Characters of a token (RFC 9110 tchar), by code.
const TCHAR = new Uint8Array(128);
for (const c of "!#$%&'*+-.^_`|~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz")
  TCHAR[c.charCodeAt(0)] = 1;
const STATUS_LINE = /^HTTP\/1\.([01]) (\d{3})(?: [\t\x20-\x7e\x80-\xff]*)?$/;

/** A field value may hold visible characters, obs-text, space and tab, no other control character. */
function valueOk(line: string, from: number, to: number): boolean {
  for (let i = from; i < to; i++) {
    const c = line.charCodeAt(i);
    if ((c < 0x20 && c !== 9) || c === 0x7f || c > 0xff) return false;
  }
  return true;
}

const isSpace = (c: number): boolean => c === 32 || c === 9;

const BLANK_LINE = Buffer.from('\r\n\r\n', 'latin1');

/** Index just past the blank line that ends a head in `bytes`, or -1 if it is not all here yet. */
export function headEnd(bytes: Buffer): number {
  const at = bytes.indexOf(BLANK_LINE);
  return at < 0 ? -1 : at + 4;
}

/**
 * Header field lines (no status line) as raw pairs; shared with chunked trailers. A hand-written scan:
 * it runs on every response, and regular expressions per line cost several times more.
 */
export function parseFields(lines: string[], what: string): string[] {
  const raw: string[] = [];
  for (const line of lines) {
    let colon = 0;
    while (colon < line.length && TCHAR[line.charCodeAt(colon)] === 1) colon++;
    if (colon === 0 || line.charCodeAt(colon) !== 58 /* : */) {
      if (isSpace(line.charCodeAt(0)))
        throw new MalformedResponse(`${what}: a folded header line (obsolete line folding is not accepted)`);
      throw new MalformedResponse(`${what}: invalid header line ${JSON.stringify(line)}`);
    }
    let from = colon + 1;
    let to = line.length;
    while (from < to && isSpace(line.charCodeAt(from))) from++;
    while (to > from && isSpace(line.charCodeAt(to - 1))) to--;
    if (!valueOk(line, from, to))
      throw new MalformedResponse(
        `${what}: header "${line.slice(0, colon)}" has a control character in its value`,
      );
    raw.push(line.slice(0, colon), line.slice(from, to));
  }
  return raw;
}

/**
 * Parses a complete head (`text` ends with the blank line, latin1-decoded). `method` is the request's:
 * a response to HEAD has no body whatever its headers say.
 */
export function parseResponseHead(text: string, method: string): ResponseHead {
  const lines = text.split('\r\n');
  lines.length -= 2; // the blank line and what follows it
  const status = STATUS_LINE.exec(lines[0] ?? '');
  if (!status)
    throw new MalformedResponse(
      `the status line ${JSON.stringify((lines[0] ?? '').slice(0, 80))} is not "HTTP/1.x NNN reason"`,
    );
  const rawHeaders = parseFields(lines.slice(1), 'response head');
  const headers = fieldRecord(rawHeaders);
  const statusCode = Number(status[2]);
  const version = status[1] === '1' ? '1.1' : '1.0';
  let keepAlive = keepsAlive(version, headers);
  const framing = framingOf(statusCode, method, headers);
  if (framing.kind === 'close') keepAlive = false;
  // Both a length and a coding: the coding wins, but the sender is suspect, so the connection goes.
  if (framing.kind === 'chunked' && headers['content-length'] !== undefined) keepAlive = false;
  return { statusCode, version, rawHeaders, headers, framing, keepAlive };
}

function framingOf(status: number, method: string, headers: Record<string, string>): Framing {
  if (method === 'HEAD' || status < 200 || status === 204 || status === 304) return { kind: 'none' };
  const coding = headers['transfer-encoding'];
  if (coding !== undefined) {
    const last = coding.toLowerCase().split(',').at(-1)!.trim();
    return last === 'chunked' ? { kind: 'chunked' } : { kind: 'close' };
  }
  const length = headers['content-length'];
  if (length === undefined) return { kind: 'close' };
  const n = contentLength(length);
  if (n === undefined)
    throw new MalformedResponse(`content-length ${JSON.stringify(length)} is not one decimal length`);
  return { kind: 'length', length: n };
}

/** Raw pairs by lower-case name; repeated fields joined with ", ". Requests and responses alike. */
export function fieldRecord(rawHeaders: string[]): Record<string, string> {
  const headers: Record<string, string> = {};
  for (let i = 0; i < rawHeaders.length; i += 2) {
    const name = rawHeaders[i]!.toLowerCase();
    const prev = headers[name];
    headers[name] = prev === undefined ? rawHeaders[i + 1]! : `${prev}, ${rawHeaders[i + 1]!}`;
  }
  return headers;
}

/** Whether a message of this version and connection header leaves its connection open after it. */
export function keepsAlive(version: '1.0' | '1.1', headers: Record<string, string>): boolean {
  const tokens = (headers.connection ?? '')
    .toLowerCase()
    .split(',')
    .map((t) => t.trim());
  return version === '1.1' ? !tokens.includes('close') : tokens.includes('keep-alive');
}

/**
 * The length a content-length field says, or undefined when it is not one decimal length. Repeated
 * fields arrive joined: "5, 5" is one length said twice; "5, 6" is two lengths.
 */
export function contentLength(value: string): number | undefined {
  const values = new Set(value.split(',').map((v) => v.trim()));
  const [only] = values;
  return values.size === 1 && /^\d{1,15}$/.test(only!) ? Number(only) : undefined;
}
