/**
 * Typed errors: every failure a user can cause carries a stable code, a message that says what went
 * wrong and where, and a hint that says how to fix it. The CLI maps codes to exit statuses and prints
 * message and hint without a stack trace (unless --debug).
 */
export type ErrorCode =
  | 'USAGE' // bad flags or arguments
  | 'INVALID_REFERENCE'
  | 'INVALID_INPUT' // a file or document the user gave is malformed
  | 'INVALID_MODULE' // not a valid WebAssembly module
  | 'INVALID_MANIFEST'
  | 'UNSUPPORTED_FORMAT'
  | 'DIGEST_MISMATCH'
  | 'SIGNATURE' // no signature by a trusted signer verifies
  | 'TOO_LARGE'
  | 'NOT_FOUND'
  | 'UNAUTHORIZED'
  | 'DENIED'
  | 'NETWORK'
  | 'REGISTRY' // the registry answered with an unexpected status
  | 'CONFIG' // configuration files (docker config.json, kubeconfig)
  | 'IO' // local filesystem
  | 'KUBERNETES'
  | 'RUNTIME' // proxy-wasm host
  | 'INTERNAL';

/**
 * What makes an error a MeshwasmError to `instanceof`: a registered symbol, not the copy of this class
 * that made it. The CLI's command tree runs from a bundle with a copy of this module of its own
 * (scripts/bundle-cli.mjs), while what a verb loads when it runs has another, and an error from either
 * side must keep its exit status and hint.
 */
const BRAND = Symbol.for('meshwasm.MeshwasmError');

export class MeshwasmError extends Error {
  readonly code: ErrorCode;
  readonly hint: string | undefined;

  static override [Symbol.hasInstance](value: unknown): boolean {
    // A subclass (KubeApiError) is tested the ordinary way, through its prototype chain.
    if (this !== MeshwasmError) return Function.prototype[Symbol.hasInstance].call(this, value);
    return typeof value === 'object' && value !== null && BRAND in value;
  }

  constructor(code: ErrorCode, message: string, options: { hint?: string; cause?: unknown } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    Object.defineProperty(this, BRAND, { value: true });
    this.name = 'MeshwasmError';
    this.code = code;
    this.hint = options.hint;
  }
}

/** Exit statuses: 2 for usage errors, 3 for not found, 4 for auth, 1 for everything else. */
export function exitCodeFor(err: unknown): number {
  if (!(err instanceof MeshwasmError)) return 1;
  switch (err.code) {
    case 'USAGE':
      return 2;
    case 'NOT_FOUND':
      return 3;
    case 'UNAUTHORIZED':
    case 'DENIED':
      return 4;
    default:
      return 1;
  }
}

export function isMeshwasmError(err: unknown, code?: ErrorCode): err is MeshwasmError {
  return err instanceof MeshwasmError && (code === undefined || err.code === code);
}

/** A one-line, user-facing rendering of any error (message, then hint). */
export function describeError(err: unknown): string {
  if (err instanceof MeshwasmError) return err.hint ? `${err.message}\n  hint: ${err.hint}` : err.message;
  if (err instanceof Error) return err.message;
  return String(err);
}
