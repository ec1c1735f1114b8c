/**
 * Where a body comes from, as the body pump reads it: the client's request (node:http's IncomingMessage)
 * or the upstream's response (our own HTTP/1.1 client). Pieces arrive through `data`, then exactly one of
 * `end` and `error`; `pause`/`resume` are the backpressure.
 */
import type { IncomingMessage } from 'node:http';
import type { BodyHandlers, BodySource } from '../http1/body.js';

export type { BodyHandlers, BodySource };

export function incomingSource(msg: IncomingMessage): BodySource {
  let handlers: BodyHandlers | undefined;
  const onData = (chunk: Uint8Array): void => handlers?.data(chunk);
  return {
    read(h) {
      handlers = h;
      msg.on('data', onData);
      msg.once('end', () => handlers?.end());
      msg.once('error', (err) => handlers?.error(err));
    },
    pause: () => void msg.pause(),
    resume: () => void msg.resume(),
    discard() {
      handlers = undefined;
      msg.off('data', onData);
      msg.resume();
    },
    get rawTrailers() {
      return msg.rawTrailers ?? [];
    },
  };
}
