/**
 * A server's response as the caller reads it (the sidecar's exchange, the registry transport): the
 * head at once, then the body (IncomingBody).
 */
import type { ResponseHead } from './head.js';
import { IncomingBody, type FlowControl } from './incoming-body.js';

export type { FlowControl };

export class Http1Response extends IncomingBody {
  readonly statusCode: number;
  readonly rawHeaders: string[];
  readonly headers: Record<string, string>;

  constructor(head: ResponseHead, flow: FlowControl) {
    super(flow);
    this.statusCode = head.statusCode;
    this.rawHeaders = head.rawHeaders;
    this.headers = head.headers;
  }
}
