/**
 * The atomic file writers under every pull and every store write: exact bytes across write batches,
 * nothing left behind on failure or abort, the hook that lets the agent overlap fsync with the next
 * download, and the shared directory fsync.
 */
import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { afterAll, describe, expect, it } from 'vitest';
import { syncDirectory, writeFileAtomic, writeSmallFileAtomic } from '../../src/oci/files.js';

const dirs: string[] = [];
const tempDir = () => {
  const dir = mkdtempSync(join(tmpdir(), 'meshwasm-files-'));
  dirs.push(dir);
  return dir;
};
afterAll(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

/** `total` pseudo-random bytes in chunks of `chunk` bytes, optionally failing after `failAfter` bytes. */
function source(total: number, chunk: number, failAfter?: number): { stream: Readable; digest: string } {
  const hash = createHash('sha256');
  const chunks: Buffer[] = [];
  for (let at = 0, n = 0; at < total; at += chunk, n++) {
    const buf = Buffer.alloc(Math.min(chunk, total - at), n % 251);
    hash.update(buf);
    chunks.push(buf);
  }
  async function* generate() {
    let sent = 0;
    for (const c of chunks) {
      if (failAfter !== undefined && sent >= failAfter) throw new Error('the network went away');
      sent += c.length;
      yield c;
      await new Promise((resolve) => setImmediate(resolve));
    }
  }
  return { stream: Readable.from(generate()), digest: hash.digest('hex') };
}

const sha256 = (path: string) => createHash('sha256').update(readFileSync(path)).digest('hex');

describe('writeFileAtomic', () => {
  it('writes every byte in order across several write batches, with the mode asked for', async () => {
    const dir = tempDir();
    const file = join(dir, 'module.wasm');
    const { stream, digest } = source(3 * 1024 * 1024 + 123, 16 * 1024 + 7);
    await writeFileAtomic(file, stream, { mode: 0o644 });
    expect(statSync(file).size).toBe(3 * 1024 * 1024 + 123);
    expect(sha256(file)).toBe(digest);
    expect(statSync(file).mode & 0o777).toBe(0o644);
    expect(readdirSync(dir)).toEqual(['module.wasm']);
  });

  it('creates a missing directory, and replaces an existing file whole', async () => {
    const dir = join(tempDir(), 'a', 'b');
    const file = join(dir, 'x.bin');
    await writeFileAtomic(file, source(10, 3).stream);
    const { stream, digest } = source(5000, 1000);
    await writeFileAtomic(file, stream);
    expect(sha256(file)).toBe(digest);
  });

  it('tells onReceived once all bytes are in, before the file appears', async () => {
    const dir = tempDir();
    const file = join(dir, 'm.wasm');
    const seen: { finalExists: boolean; partials: number }[] = [];
    await writeFileAtomic(file, source(2 * 1024 * 1024, 64 * 1024).stream, {
      onReceived: () =>
        seen.push({
          finalExists: existsSync(file),
          partials: readdirSync(dir).filter((n) => n.includes('.partial-')).length,
        }),
    });
    expect(seen).toEqual([{ finalExists: false, partials: 1 }]);
    expect(existsSync(file)).toBe(true);
  });

  it('leaves neither the file nor a temporary file when the source fails midway', async () => {
    const dir = tempDir();
    const file = join(dir, 'm.wasm');
    const { stream } = source(3 * 1024 * 1024, 32 * 1024, 2 * 1024 * 1024);
    await expect(writeFileAtomic(file, stream)).rejects.toThrow(/the network went away/);
    expect(readdirSync(dir)).toEqual([]);
  });

  it('keeps the old file untouched when a replacement fails', async () => {
    const dir = tempDir();
    const file = join(dir, 'm.wasm');
    writeFileSync(file, 'old content');
    await expect(writeFileAtomic(file, source(100_000, 1000, 50_000).stream)).rejects.toThrow();
    expect(readFileSync(file, 'utf8')).toBe('old content');
    expect(readdirSync(dir)).toEqual(['m.wasm']);
  });

  it('stops on abort with an AbortError and removes its temporary file', async () => {
    const dir = tempDir();
    const file = join(dir, 'm.wasm');
    const abort = new AbortController();
    async function* endless() {
      for (let n = 0; ; n++) {
        if (n === 20) abort.abort();
        yield Buffer.alloc(4096, n);
        await new Promise((resolve) => setImmediate(resolve));
      }
    }
    await expect(
      writeFileAtomic(file, Readable.from(endless()), { signal: abort.signal }),
    ).rejects.toMatchObject({ code: 'ABORT_ERR' });
    expect(readdirSync(dir)).toEqual([]);
  });

  it('says which file it could not write, and why', async () => {
    const dir = tempDir();
    writeFileSync(join(dir, 'plain-file'), '');
    await expect(writeFileAtomic(join(dir, 'plain-file', 'm.wasm'), source(10, 10).stream)).rejects.toThrow(
      /cannot (write|create directory) .*plain-file/,
    );
  });
});

describe('writeSmallFileAtomic', () => {
  it('writes text and bytes with the mode asked for, empty content included', async () => {
    const dir = tempDir();
    await writeSmallFileAtomic(join(dir, 'a.json'), '{"a":1}\n', { mode: 0o600, durable: true });
    await writeSmallFileAtomic(join(dir, 'b.bin'), new Uint8Array([1, 2, 3]));
    await writeSmallFileAtomic(join(dir, 'empty'), '');
    expect(readFileSync(join(dir, 'a.json'), 'utf8')).toBe('{"a":1}\n');
    expect(statSync(join(dir, 'a.json')).mode & 0o777).toBe(0o600);
    expect([...readFileSync(join(dir, 'b.bin'))]).toEqual([1, 2, 3]);
    expect(statSync(join(dir, 'empty')).size).toBe(0);
    expect(readdirSync(dir).sort()).toEqual(['a.json', 'b.bin', 'empty']);
  });
});

describe('syncDirectory', () => {
  it('lets callers who arrive while an fsync runs share the next one, which starts after theirs', async () => {
    const dir = tempDir();
    const first = syncDirectory(dir);
    const second = syncDirectory(dir);
    const third = syncDirectory(dir);
    expect(second).not.toBe(first);
    expect(third).toBe(second);
    await Promise.all([first, second, third]);
    const later = syncDirectory(dir);
    expect(later).not.toBe(second);
    await later;
  });

  it('does not fail where a directory cannot be opened (best effort)', async () => {
    await expect(syncDirectory(join(tempDir(), 'missing'))).resolves.toBeUndefined();
  });
});
