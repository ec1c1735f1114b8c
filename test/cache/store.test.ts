import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { classifyName, encodeRecord, ModuleStore, parseRecord } from '../../src/cache/index.js';
import { moduleWithCustomSection } from '../support/wasm-fixtures.js';

const dirs: string[] = [];
const newDir = async () => {
  const dir = await mkdtemp(join(tmpdir(), 'meshwasm-store-'));
  dirs.push(dir);
  return dir;
};
afterAll(async () => {
  for (const dir of dirs) await rm(dir, { recursive: true, force: true });
});

const sha = (b: Buffer) => `sha256:${createHash('sha256').update(b).digest('hex')}`;
const manifest = (n: number) => `sha256:${String(n).repeat(64).slice(0, 64)}`;

async function storeWith(modules: Record<number, Buffer>): Promise<string> {
  const dir = await newDir();
  const store = new ModuleStore(dir);
  await store.open();
  for (const [n, bytes] of Object.entries(modules)) {
    await store.install(manifest(Number(n)), async (file) => {
      await writeFile(file, bytes);
      return { moduleDigest: sha(bytes), size: bytes.length, format: 'artifact' };
    });
  }
  return dir;
}

describe('store names and records (pure)', () => {
  it('classifies modules, records, partial files and everything else', () => {
    const hex = 'a'.repeat(64);
    expect(classifyName(`${hex}.wasm`)).toEqual({ kind: 'module', hex });
    expect(classifyName(`${hex}.json`)).toEqual({ kind: 'record', hex });
    expect(classifyName(`.${hex}.wasm.partial-0a1b2c`)).toEqual({ kind: 'partial' });
    expect(classifyName('notes.txt')).toEqual({ kind: 'other' });
    expect(classifyName(`${hex.slice(1)}.wasm`)).toEqual({ kind: 'other' });
  });

  it('rejects a record that names another digest or lacks fields', () => {
    const hex = 'b'.repeat(64);
    const good = { manifestDigest: `sha256:${hex}`, moduleDigest: `sha256:${'c'.repeat(64)}`, size: 10 };
    expect(parseRecord(encodeRecord(good), hex)).toEqual(good);
    expect(parseRecord(encodeRecord(good), 'd'.repeat(64))).toBeUndefined();
    expect(parseRecord(JSON.stringify({ ...good, size: -1 }), hex)).toBeUndefined();
    expect(parseRecord('{not json', hex)).toBeUndefined();
  });
});

describe('ModuleStore', () => {
  it('writes <hex>.wasm with mode 0644 and a record, and does not fetch a present module again', async () => {
    const bytes = moduleWithCustomSection(1000, 'one');
    const dir = await storeWith({ 1: bytes });
    const hex = manifest(1).slice(7);
    expect(readFileSync(join(dir, `${hex}.wasm`)).equals(bytes)).toBe(true);
    expect(statSync(join(dir, `${hex}.wasm`)).mode & 0o777).toBe(0o644);
    expect(JSON.parse(readFileSync(join(dir, `${hex}.json`), 'utf8'))).toMatchObject({
      manifestDigest: manifest(1),
      moduleDigest: sha(bytes),
      size: bytes.length,
    });
    const store = new ModuleStore(dir);
    await store.open();
    let fetches = 0;
    const result = await store.install(manifest(1), async () => {
      fetches++;
      return { moduleDigest: '', size: 0 };
    });
    expect(fetches).toBe(0);
    expect(result.fetched).toBe(false);
  });

  it('verifies at open: keeps good modules, removes corrupt, unrecorded ones and stale partial files', async () => {
    const good = moduleWithCustomSection(2000, 'good');
    const bad = moduleWithCustomSection(2000, 'bad');
    const dir = await storeWith({ 1: good, 2: bad, 3: moduleWithCustomSection(10, 'gone') });
    const badFile = join(dir, `${manifest(2).slice(7)}.wasm`);
    const flipped = Buffer.from(bad);
    flipped.writeUInt8(flipped.readUInt8(flipped.length - 1) ^ 0xff, flipped.length - 1);
    writeFileSync(badFile, flipped);
    // a module without its record, a record without its module, a crash's partial file
    writeFileSync(join(dir, `${manifest(4).slice(7)}.wasm`), good);
    const gone = join(dir, `${manifest(3).slice(7)}.wasm`);
    (await import('node:fs')).rmSync(gone);
    writeFileSync(join(dir, `.${manifest(5).slice(7)}.wasm.partial-abcdef`), 'half');

    const store = new ModuleStore(dir);
    const report = await store.open();
    expect(report.verified.map((m) => m.manifestDigest)).toEqual([manifest(1)]);
    expect(report.removed.map((r) => r.file).sort()).toEqual(
      [`${manifest(2).slice(7)}.wasm`, `${manifest(4).slice(7)}.wasm`].sort(),
    );
    expect(report.removed.find((r) => r.file.startsWith(manifest(2).slice(7)))?.reason).toContain(
      'module digest',
    );
    expect(report.partials).toHaveLength(1);
    expect(readdirSync(dir).sort()).toEqual(
      [`${manifest(1).slice(7)}.json`, `${manifest(1).slice(7)}.wasm`].sort(),
    );
    expect(store.digests()).toEqual([manifest(1)]);
  });

  it('shares one fetch between concurrent installs of a digest', async () => {
    const dir = await newDir();
    const store = new ModuleStore(dir);
    await store.open();
    const bytes = moduleWithCustomSection(100, 'x');
    let fetches = 0;
    const fetch = async (file: string) => {
      fetches++;
      await new Promise((r) => setTimeout(r, 20));
      await writeFile(file, bytes);
      return { moduleDigest: sha(bytes), size: bytes.length };
    };
    const results = await Promise.all([1, 2, 3].map(() => store.install(manifest(9), fetch)));
    expect(fetches).toBe(1);
    expect(results.filter((r) => r.fetched)).toHaveLength(1);
    expect(store.has(manifest(9))).toBe(true);
  });

  it('leaves nothing behind when a fetch fails, and removes module and record together', async () => {
    const bytes = moduleWithCustomSection(100, 'y');
    const dir = await storeWith({ 1: bytes });
    const store = new ModuleStore(dir);
    await store.open();
    await expect(
      store.install(manifest(2), async () => {
        throw new Error('registry said no');
      }),
    ).rejects.toThrow('registry said no');
    expect(store.has(manifest(2))).toBe(false);
    await store.remove(manifest(1));
    expect(readdirSync(dir)).toEqual([]);
    expect(existsSync(join(dir, `${manifest(1).slice(7)}.wasm`))).toBe(false);
  });

  it('drops from its index, at a recheck, a module deleted or changed behind its back', async () => {
    const dir = await storeWith({
      1: moduleWithCustomSection(500, 'r1'),
      2: moduleWithCustomSection(500, 'r2'),
      3: moduleWithCustomSection(500, 'r3'),
    });
    const store = new ModuleStore(dir);
    await store.open();
    (await import('node:fs')).rmSync(join(dir, `${manifest(1).slice(7)}.wasm`));
    writeFileSync(join(dir, `${manifest(2).slice(7)}.wasm`), 'short');
    const dropped = await store.recheck();
    expect(dropped.map((d) => d.digest).sort()).toEqual([manifest(1), manifest(2)]);
    expect(dropped.find((d) => d.digest === manifest(1))?.reason).toBe('file deleted');
    expect(store.digests()).toEqual([manifest(3)]);
    expect(readdirSync(dir).sort()).toEqual(
      [`${manifest(3).slice(7)}.json`, `${manifest(3).slice(7)}.wasm`].sort(),
    );
  });

  it('refuses a directory it cannot create, naming it', async () => {
    const base = await newDir();
    writeFileSync(join(base, 'file'), 'x');
    const store = new ModuleStore(join(base, 'file', 'sub'));
    await expect(store.open()).rejects.toThrow(/cannot create the module directory .*file\/sub/);
  });
});
