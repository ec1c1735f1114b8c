import { describeError } from '../errors.js';
import type { Logger } from '../log.js';

/**
 * Keeps a long-running command alive until SIGTERM or SIGINT, then stops it once. With `timeoutMs`, a
 * stop that hangs ends the process with status 1 instead of leaving a pod stuck in Terminating.
 */
export function runUntilSignal(
  log: Logger,
  stop: () => Promise<void>,
  options: { timeoutMs?: number } = {},
): Promise<void> {
  return new Promise<void>((resolve) => {
    let stopping = false;
    const shutdown = (signal: string) => {
      if (stopping) return;
      stopping = true;
      log.info({ signal }, 'shutting down');
      if (options.timeoutMs !== undefined) {
        const timer = setTimeout(() => {
          log.error({ timeoutMs: options.timeoutMs }, 'shutdown timed out; exiting');
          process.exit(1);
        }, options.timeoutMs);
        timer.unref();
      }
      stop()
        .catch((err: unknown) => log.error({ err: describeError(err) }, 'error while stopping'))
        .finally(resolve);
    };
    process.once('SIGTERM', () => shutdown('SIGTERM'));
    process.once('SIGINT', () => shutdown('SIGINT'));
  });
}
