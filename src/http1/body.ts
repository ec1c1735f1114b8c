/**
 * A message body as a reader takes it: pieces through `data`, then exactly one of `end` and `error`;
 * `pause`/`resume` are the backpressure. Both bodies that arrive are one (incoming-body.ts): the
 * client's responses (response.ts) and the server's requests (server.ts).
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
