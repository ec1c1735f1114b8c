import { hostname } from 'node:os';

/**
 * Structured logs for the long-running processes (controller, agent, sidecar): one JSON object per line
 * on stdout, in pino's shape (`level` as pino's numbers, `time` in ms, `pid`, `hostname`, `name`, the
 * bindings and fields, then `msg`), so log pipelines set up for pino read them unchanged.
 *
 * Written here rather than with pino: pino, sonic-boom and fast-redact took 35-55 ms to load and
 * ~12 ms to write 150 lines in a fresh process, where this takes ~3 ms; every agent start on every node
 * paid that (bench/agent.ts, issue 12). What the processes need is small: six levels, child loggers,
 * synchronous lines (nothing is lost at exit) and redaction.
 *
 * Values under keys that could hold credentials are redacted, at the top level and one level down, as
 * a second line of defence; the first is never to log them at all.
 */

export const LEVELS = { trace: 10, debug: 20, info: 30, warn: 40, error: 50, fatal: 60 } as const;
export type Level = keyof typeof LEVELS;

type Fields = Record<string, unknown>;
export interface LogFn {
  (fields: Fields, message?: string): void;
  (message: string): void;
}

export interface Logger {
  readonly level: Level | 'silent';
  trace: LogFn;
  debug: LogFn;
  info: LogFn;
  warn: LogFn;
  error: LogFn;
  fatal: LogFn;
  isLevelEnabled(level: Level): boolean;
  /** A logger whose lines all carry `bindings`. */
  child(bindings: Fields): Logger;
}

/** Where lines go: process.stdout by default (synchronous for files and pipes on Linux). */
export interface LogDestination {
  write(line: string): unknown;
}

const SECRET_KEYS = new Set(['password', 'auth', 'token', 'authorization', 'identitytoken']);
const CENSOR = '[redacted]';

export function createLogger(
  name: string,
  level: string = process.env.MESHWASM_LOG_LEVEL ?? 'info',
  destination: LogDestination = process.stdout,
): Logger {
  if (level !== 'silent' && !(level in LEVELS))
    throw new Error(
      `unknown log level "${level}" (MESHWASM_LOG_LEVEL): use one of ${Object.keys(LEVELS).join(', ')} or silent`,
    );
  // The head every line starts with, serialised once: pid, hostname and name never change.
  const head = JSON.stringify({ pid: process.pid, hostname: hostname(), name }).slice(1, -1);
  return makeLogger(level as Level | 'silent', head, destination);
}

function makeLogger(level: Level | 'silent', head: string, destination: LogDestination): Logger {
  const threshold = level === 'silent' ? Infinity : LEVELS[level];
  const at = (name: Level): LogFn => {
    const number = LEVELS[name];
    if (number < threshold) return () => undefined;
    return (fieldsOrMessage: Fields | string, message?: string) => {
      const fields = typeof fieldsOrMessage === 'string' ? undefined : fieldsOrMessage;
      const msg = typeof fieldsOrMessage === 'string' ? fieldsOrMessage : message;
      let line = `{"level":${number},"time":${Date.now()},${head}`;
      if (fields) {
        const body = JSON.stringify(redacted(fields), jsonSafe);
        if (body.length > 2) line += `,${body.slice(1, -1)}`;
      }
      if (msg !== undefined) line += `,"msg":${JSON.stringify(msg)}`;
      destination.write(`${line}}\n`);
    };
  };
  return {
    level,
    trace: at('trace'),
    debug: at('debug'),
    info: at('info'),
    warn: at('warn'),
    error: at('error'),
    fatal: at('fatal'),
    isLevelEnabled: (name) => LEVELS[name] >= threshold,
    child(bindings) {
      const extra = JSON.stringify(redacted(bindings), jsonSafe).slice(1, -1);
      return makeLogger(level, extra ? `${head},${extra}` : head, destination);
    },
  };
}

/** A copy with secret-looking keys censored, at the top level and in objects one level down. */
function redacted(fields: Fields): Fields {
  const out: Fields = {};
  for (const [key, value] of Object.entries(fields)) {
    if (SECRET_KEYS.has(key.toLowerCase())) out[key] = CENSOR;
    else if (value && typeof value === 'object' && !Array.isArray(value) && !(value instanceof Error)) {
      const inner: Fields = {};
      for (const [k, v] of Object.entries(value as Fields))
        inner[k] = SECRET_KEYS.has(k.toLowerCase()) ? CENSOR : v;
      out[key] = inner;
    } else out[key] = value;
  }
  return out;
}

/** Errors as their type, message and code (JSON.stringify would print `{}`); bigints as strings. */
function jsonSafe(_key: string, value: unknown): unknown {
  if (value instanceof Error) {
    const code = (value as { code?: unknown }).code;
    return { type: value.name, message: value.message, ...(code !== undefined ? { code } : {}) };
  }
  return typeof value === 'bigint' ? value.toString() : value;
}
