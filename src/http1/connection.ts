/**
 * One connection to a server, plain TCP or TLS. A TCP connection is read into buffers of our own
 * (read-buffer.ts); TLS sockets decrypt into buffers of their own, so they are read through 'data'. What was read goes to the connection's current owner (the request it
 * carries), or closes the connection if it arrives while it is idle.
 */
import { connect, isIP, type LookupFunction, type NetConnectOpts, type Socket } from 'node:net';
import type { ConnectionOptions, connect as tlsConnect } from 'node:tls';
import { ReadBuffer } from './read-buffer.js';

/** Where connections go. */
export interface Endpoint {
  /** a name or an address (an IPv6 address without brackets) */
  host: string;
  port: number;
  /** TLS with node:tls's connect (loaded by the caller, so plain-HTTP users never load it) */
  tls?: { connect: typeof tlsConnect; options: ConnectionOptions };
  /** resolves `host` instead of dns.lookup (e.g. to refuse some addresses) */
  lookup?: LookupFunction;
}

/** Host and port to connect to for an http: or https: URL (brackets off an IPv6 host, default ports). */
export function addressOf(url: URL): { host: string; port: number } {
  return {
    host: url.hostname.replace(/^\[|\]$/g, ''),
    port: Number(url.port || (url.protocol === 'https:' ? 443 : 80)),
  };
}

/** What the connection reports to the request it carries. */
export interface ConnectionOwner {
  onData(chunk: Buffer): void;
  /** The server ended its side (EOF). */
  onEnd(): void;
  /** The socket closed under the request (`err`: why, if it failed). */
  onClose(err: Error | undefined): void;
  /** The socket made no progress for the owner's idle timeout. */
  onTimeout(): void;
}

export class Connection {
  readonly socket: Socket;
  owner: ConnectionOwner | undefined;
  /** Requests this connection has carried (a reused one may have been closed by the server meanwhile). */
  uses = 0;
  private readonly reads = new ReadBuffer();

  constructor(endpoint: Endpoint, socketBufferBytes: number, onGone: (c: Connection) => void) {
    const { host, port, lookup } = endpoint;
    if (endpoint.tls) {
      this.socket = endpoint.tls.connect({
        ...endpoint.tls.options,
        host,
        port,
        // SNI carries names only (RFC 6066); the certificate is still checked against an address.
        ...(isIP(host) ? {} : { servername: host }),
        ...(lookup ? { lookup } : {}),
        highWaterMark: socketBufferBytes,
      } as ConnectionOptions);
      this.socket.setNoDelay(true);
      this.socket.on('data', (chunk: Buffer) => this.deliver(chunk));
    } else {
      // (net.Socket hands highWaterMark to its Duplex; @types/node does not list it for connect.)
      this.socket = connect({
        host,
        port,
        noDelay: true,
        highWaterMark: socketBufferBytes,
        ...(lookup ? { lookup } : {}),
        onread: {
          buffer: () => this.reads.current,
          callback: (n: number, buffer: Uint8Array) => {
            this.deliver(this.reads.take(n, buffer as Buffer));
            return true;
          },
        },
      } as NetConnectOpts);
    }
    this.socket.on('end', () => {
      if (this.owner) this.owner.onEnd();
      else this.socket.destroy();
    });
    this.socket.on('timeout', () => {
      if (this.owner) this.owner.onTimeout();
      else this.socket.destroy(); // idle in its pool for too long
    });
    let failure: Error | undefined;
    this.socket.on('error', (err) => (failure = err)); // reported with 'close', to the owner
    this.socket.on('close', () => {
      onGone(this);
      const owner = this.owner;
      this.owner = undefined;
      owner?.onClose(failure);
    });
  }

  /**
   * Going idle in its pool: a large read buffer is given back (a small one takes its place), so idle
   * connections do not each hold 1 MiB until they close, and the next collection can free it.
   */
  idle(): void {
    this.reads.shrink();
  }

  private deliver(chunk: Buffer): void {
    if (this.owner) this.owner.onData(chunk);
    else this.socket.destroy(); // nothing may arrive between two responses
  }
}
