/**
 * What HTTP/1.1 allows in a method, a header name and a header value (RFC 9110 tokens and field values),
 * checked where a message is written, client side (request.ts) or server side (reply.ts). The errors
 * carry the codes Node's own http module uses, so callers can tell a message they were handed that
 * cannot be sent (a filter's doing, in the sidecar) from anything else.
 */
export const TOKEN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;
// What Node's validateHeaderValue refuses (checked here: importing node:http for it loads its whole stack).
const BAD_VALUE = /[^\t\x20-\x7e\x80-\xff]/;

export function invalid(code: string, message: string): Error {
  return Object.assign(new TypeError(message), { code });
}

/** Throws (ERR_INVALID_HTTP_TOKEN, ERR_HTTP_INVALID_HEADER_VALUE, ERR_INVALID_CHAR) unless sendable. */
export function checkHeader(name: string, value: unknown): void {
  if (!TOKEN.test(name))
    throw invalid('ERR_INVALID_HTTP_TOKEN', `Header name must be a valid HTTP token ["${name}"]`);
  for (const v of Array.isArray(value) ? value : [value]) {
    if (typeof v !== 'string')
      throw invalid('ERR_HTTP_INVALID_HEADER_VALUE', `Invalid value "${v}" for header "${name}"`);
    if (BAD_VALUE.test(v))
      throw invalid('ERR_INVALID_CHAR', `Invalid character in header content ["${name}"]`);
  }
}
