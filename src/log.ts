import { pino, type Logger } from 'pino';

/**
 * Structured logs for the long-running processes (controller, agent, sidecar). Values that could hold
 * credentials are redacted by path as a second line of defence; the first is never to log them at all.
 */
export function createLogger(name: string, level = process.env.MESHWASM_LOG_LEVEL ?? 'info'): Logger {
  return pino({
    name,
    level,
    redact: {
      paths: [
        'password',
        '*.password',
        'auth',
        '*.auth',
        'token',
        '*.token',
        'authorization',
        '*.authorization',
        'headers.authorization',
        'identitytoken',
        '*.identitytoken',
      ],
      censor: '[redacted]',
    },
  });
}

export type { Logger };
