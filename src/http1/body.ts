/**
 * A message body as a reader takes it: pieces through `data`, then exactly one of `end` and `error`;
 * `pause`/`resume` are the backpressure. The client's responses (response.ts) are one; the sidecar
 * adapts node:http's IncomingMessage to it too (src/sidecar/body-source.ts).
 */
export interface BodyHandlers {
  data(chunk: Uint8Array): void;
  end(): void;
  error(err: Error): void;
}

export interface BodySource {
  read(handlers: BodyHandlers): void;
  pause(): void;
  resume(): void;
  /** Stops delivery; what is left goes nowhere. */
  discard(): void;
  /** Trailer fields, once the body has ended. */
  readonly rawTrailers: string[];
}
