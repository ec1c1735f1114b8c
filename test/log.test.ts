/**
 * The structured logger: pino's line shape, levels, child bindings, redaction of secret-looking keys,
 * errors that print as more than `{}`.
 */
import { describe, expect, it } from 'vitest';
import { createLogger } from '../src/log.js';

function capture(level: string) {
  const lines: string[] = [];
  const log = createLogger('meshwasm-test', level, { write: (line) => lines.push(line) });
  return { log, lines, parsed: () => lines.map((l) => JSON.parse(l) as Record<string, unknown>) };
}

describe('createLogger', () => {
  it("writes one JSON object per line in pino's shape and order", () => {
    const { log, lines, parsed } = capture('info');
    const before = Date.now();
    log.info({ reference: 'r/x@sha256:ab', bytes: 3 }, 'pulled');
    log.warn('plain message');
    expect(lines).toHaveLength(2);
    expect(lines.every((l) => l.endsWith('}\n') && !l.slice(0, -1).includes('\n'))).toBe(true);
    const [first, second] = parsed();
    expect(Object.keys(first!)).toEqual([
      'level',
      'time',
      'pid',
      'hostname',
      'name',
      'reference',
      'bytes',
      'msg',
    ]);
    expect(first).toMatchObject({
      level: 30,
      pid: process.pid,
      name: 'meshwasm-test',
      bytes: 3,
      msg: 'pulled',
    });
    expect(first!.time as number).toBeGreaterThanOrEqual(before);
    expect(second).toMatchObject({ level: 40, msg: 'plain message' });
  });

  it('drops lines below its level; silent writes nothing', () => {
    const { log, parsed } = capture('warn');
    log.debug('no');
    log.info('no');
    log.warn('yes');
    log.error('yes');
    log.fatal('yes');
    expect(parsed().map((l) => l.level)).toEqual([40, 50, 60]);
    expect(log.isLevelEnabled('info')).toBe(false);
    expect(log.isLevelEnabled('error')).toBe(true);
    const quiet = capture('silent');
    quiet.log.fatal('no');
    expect(quiet.lines).toEqual([]);
    expect(capture('trace').log.isLevelEnabled('trace')).toBe(true);
  });

  it("puts a child's bindings on each of its lines, after the name", () => {
    const { log, parsed } = capture('info');
    const child = log.child({ filter: 'header' });
    child.info({ abi: '0.2.1' }, 'filter loaded');
    log.info('parent');
    const [fromChild, fromParent] = parsed();
    expect(Object.keys(fromChild!).slice(4)).toEqual(['name', 'filter', 'abi', 'msg']);
    expect(fromChild).toMatchObject({ filter: 'header', abi: '0.2.1' });
    expect(fromParent!.filter).toBeUndefined();
  });

  it('redacts secret-looking keys at the top level and one level down, without touching the input', () => {
    const { log, lines } = capture('info');
    const fields = {
      password: 'hunter2',
      headers: { authorization: 'Bearer abc', accept: 'x' },
      creds: { Token: 'tkn', user: 'u' },
      auth: { anything: 1 },
    };
    log.info(fields, 'request');
    const line = JSON.parse(lines[0]!) as Record<string, Record<string, unknown>>;
    expect(line.password).toBe('[redacted]');
    expect(line.headers).toEqual({ authorization: '[redacted]', accept: 'x' });
    expect(line.creds).toEqual({ Token: '[redacted]', user: 'u' });
    expect(line.auth).toBe('[redacted]');
    expect(lines[0]).not.toMatch(/hunter2|Bearer abc|tkn/);
    expect(fields.headers.authorization).toBe('Bearer abc');
  });

  it('prints an Error value as its type, message and code', () => {
    const { log, parsed } = capture('info');
    log.error({ err: Object.assign(new Error('boom'), { code: 'EBOOM' }) }, 'failed');
    expect(parsed()[0]!.err).toEqual({ type: 'Error', message: 'boom', code: 'EBOOM' });
  });

  it('refuses an unknown level, naming the variable and the levels', () => {
    expect(() => createLogger('x', 'verbose')).toThrow(
      /unknown log level "verbose" \(MESHWASM_LOG_LEVEL\): use one of trace, debug, info, warn, error, fatal or silent/,
    );
  });
});
