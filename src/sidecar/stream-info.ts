/**
 * The connection facts a stream's filters may ask for (`source.address`, `request.time`, ...), read
 * from the client's socket only when a filter asks: most never do, and socket addresses cost a system
 * call. A class rather than an object literal with getters: a literal's accessors are made afresh for
 * every request (closures and accessor pairs), the class's once.
 */
import type { Socket } from 'node:net';
import type { StreamInfo } from '../runtime/index.js';

export class SocketStreamInfo implements StreamInfo {
  private readonly startMs = Date.now();

  constructor(
    private readonly socket: Socket,
    readonly protocol: string,
    readonly requestId: string,
  ) {}

  get sourceAddress(): string | undefined {
    return this.socket.remoteAddress;
  }

  get sourcePort(): number | undefined {
    return this.socket.remotePort;
  }

  get destinationAddress(): string | undefined {
    return this.socket.localAddress;
  }

  get destinationPort(): number | undefined {
    return this.socket.localPort;
  }

  get startTime(): Date {
    return new Date(this.startMs);
  }
}
