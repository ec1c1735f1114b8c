import { MeshwasmError } from '../errors.js';

const UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

/** `10m`, `30s`, `1h30m`, `250ms` or a bare number of seconds, in milliseconds (pure). */
export function parseDuration(text: string, flag: string): number {
  const trimmed = text.trim();
  if (/^\d+(\.\d+)?$/.test(trimmed)) return Math.round(Number(trimmed) * 1000);
  const parts = [...trimmed.matchAll(/(\d+(?:\.\d+)?)(ms|s|m|h)/g)];
  if (parts.length === 0 || parts.map((p) => p[0]).join('') !== trimmed) {
    throw new MeshwasmError('USAGE', `${flag}: "${text}" is not a duration`, {
      hint: 'write e.g. 10m, 30s, 1h30m, 500ms, or a number of seconds',
    });
  }
  return Math.round(parts.reduce((total, p) => total + Number(p[1]) * (UNITS[p[2]!] ?? 0), 0));
}
