/**
 * The content-addressed module store on disk: `<dir>/<manifest-digest-hex>.wasm` (mode 0644) with its
 * record `<hex>.json`. Writes are atomic (temporary dot-file, fsync, rename), so a sidecar never sees a
 * partial module. At start-up `open()` sweeps temporary files left by a crash and verifies every module
 * once against its record; afterwards the in-memory index is the truth and nothing present is fetched again.
 */
import { mkdir, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { MeshwasmError } from '../errors.js';
import { byCodeUnits } from '../order.js';
import { ioError, isNodeError, partialPathFor, writeSmallFileAtomic } from '../oci/files.js';
import { sha256File } from './files.js';
import {
  classifyName,
  encodeRecord,
  moduleFileName,
  parseRecord,
  recordFileName,
  type ModuleRecord,
} from './record.js';
import { SingleFlight } from '../single-flight.js';

export interface StoredModule extends ModuleRecord {
  path: string;
}

export interface OpenReport {
  verified: StoredModule[];
  /** modules removed because they failed verification, with why */
  removed: { file: string; reason: string }[];
  /** temporary files of interrupted writes that were deleted */
  partials: string[];
}

/** What a fetch into the store yields (the OCI client's pull result has these fields). */
export interface FetchedModule {
  moduleDigest: string;
  size: number;
  format?: string;
}

export type Fetch = (file: string) => Promise<FetchedModule>;

export class ModuleStore {
  readonly dir: string;
  private readonly modules = new Map<string, StoredModule>();
  private readonly flights = new SingleFlight<string, StoredModule>();

  constructor(dir: string) {
    this.dir = dir;
  }

  pathFor(manifestDigest: string): string {
    return join(this.dir, moduleFileName(manifestDigest));
  }

  /** Creates the directory, proves it writable, sweeps temporary files, verifies what is there. */
  async open(options: { concurrency?: number } = {}): Promise<OpenReport> {
    try {
      await mkdir(this.dir, { recursive: true });
    } catch (err) {
      throw ioError(err, `cannot create the module directory ${this.dir}`);
    }
    await this.probeWritable();
    const report: OpenReport = { verified: [], removed: [], partials: [] };
    let names: string[];
    try {
      names = await readdir(this.dir);
    } catch (err) {
      throw ioError(err, `cannot list the module directory ${this.dir}`);
    }
    const modules: string[] = [];
    const records = new Set<string>();
    for (const name of names) {
      const entry = classifyName(name);
      if (entry.kind === 'partial') {
        await rm(join(this.dir, name), { force: true });
        report.partials.push(name);
      } else if (entry.kind === 'module') modules.push(entry.hex);
      else if (entry.kind === 'record') records.add(entry.hex);
    }
    // A record without its module is an interrupted removal: finish it.
    for (const hex of records) {
      if (!modules.includes(hex)) await rm(join(this.dir, `${hex}.json`), { force: true });
    }
    const queue = [...modules];
    const worker = async () => {
      for (let hex = queue.shift(); hex !== undefined; hex = queue.shift()) {
        const result = await this.verify(hex, records.has(hex));
        if ('reason' in result) {
          await this.removeFiles(`sha256:${hex}`);
          report.removed.push({ file: `${hex}.wasm`, reason: result.reason });
        } else {
          this.modules.set(result.manifestDigest, result);
          report.verified.push(result);
        }
      }
    };
    await Promise.all(Array.from({ length: Math.max(1, options.concurrency ?? 4) }, worker));
    report.verified.sort((a, b) => byCodeUnits(a.manifestDigest, b.manifestDigest));
    return report;
  }

  private async probeWritable(): Promise<void> {
    const probe = partialPathFor(join(this.dir, 'probe'));
    try {
      await writeSmallFileAtomic(probe, '');
      await rm(probe, { force: true });
    } catch (err) {
      throw ioError(err, `the module directory ${this.dir} is not writable`);
    }
  }

  private async verify(hex: string, hasRecord: boolean): Promise<StoredModule | { reason: string }> {
    const path = join(this.dir, `${hex}.wasm`);
    if (!hasRecord) return { reason: 'no record of its module digest (interrupted write or foreign file)' };
    let record: ModuleRecord | undefined;
    try {
      record = parseRecord(await readFile(join(this.dir, `${hex}.json`), 'utf8'), hex);
    } catch (err) {
      return { reason: `cannot read its record: ${(err as Error).message}` };
    }
    if (!record) return { reason: 'its record is damaged' };
    try {
      const info = await stat(path);
      if (!info.isFile()) return { reason: 'not a regular file' };
      if (info.size !== record.size) return { reason: `size ${info.size}, expected ${record.size}` };
      const actual = await sha256File(path);
      if (actual.digest !== record.moduleDigest)
        return { reason: `module digest ${actual.digest}, expected ${record.moduleDigest}` };
    } catch (err) {
      return { reason: `cannot read it: ${(err as Error).message}` };
    }
    return { ...record, path };
  }

  has(manifestDigest: string): boolean {
    return this.modules.has(manifestDigest);
  }

  get(manifestDigest: string): StoredModule | undefined {
    return this.modules.get(manifestDigest);
  }

  /** Manifest digests present and verified, sorted. */
  digests(): string[] {
    return [...this.modules.keys()].sort();
  }

  installing(manifestDigest: string): boolean {
    return this.flights.has(manifestDigest);
  }

  /**
   * Fetches a module into its file (the fetch must write `file` atomically and verify it), then writes
   * its record. Concurrent calls for one digest share one fetch; a digest present is not fetched again.
   */
  install(
    manifestDigest: string,
    fetch: Fetch,
    meta: { reference?: string } = {},
  ): Promise<{ module: StoredModule; fetched: boolean }> {
    const present = this.modules.get(manifestDigest);
    if (present) return Promise.resolve({ module: present, fetched: false });
    let fetched = false;
    return this.flights
      .run(manifestDigest, async () => {
        const path = this.pathFor(manifestDigest);
        const got = await fetch(path);
        fetched = true;
        const record: ModuleRecord = {
          manifestDigest,
          moduleDigest: got.moduleDigest,
          size: got.size,
          ...(meta.reference ? { reference: meta.reference } : {}),
          ...(got.format ? { format: got.format } : {}),
          pulledAt: new Date().toISOString(),
        };
        try {
          // In place, not through a rename: a record torn by a crash only fails its module's verification
          // at the next start, which then pulls the module again.
          await writeFile(join(this.dir, recordFileName(manifestDigest)), encodeRecord(record), {
            mode: 0o644,
          });
        } catch (err) {
          // Without its record the module cannot be verified at the next start: do not keep it.
          await rm(path, { force: true }).catch(() => undefined);
          throw ioError(err, `cannot write the record of ${manifestDigest} in ${this.dir}`);
        }
        const module: StoredModule = { ...record, path };
        this.modules.set(manifestDigest, module);
        return module;
      })
      .then((module) => ({ module, fetched }));
  }

  /** Removes a module and its record (the module first: a record alone is swept at start-up). */
  async remove(manifestDigest: string): Promise<void> {
    if (this.flights.has(manifestDigest)) {
      throw new MeshwasmError('INTERNAL', `${manifestDigest} is being written; it cannot be removed now`);
    }
    this.modules.delete(manifestDigest);
    await this.removeFiles(manifestDigest);
  }

  private async removeFiles(manifestDigest: string): Promise<void> {
    for (const name of [moduleFileName(manifestDigest), recordFileName(manifestDigest)]) {
      try {
        await rm(join(this.dir, name), { force: true });
      } catch (err) {
        if (!isNodeError(err) || err.code !== 'ENOENT') throw ioError(err, `cannot remove ${name}`);
      }
    }
  }

  /**
   * A cheap check of what the index claims (stat, no hashing): a module whose file was deleted, or whose
   * size changed, behind the agent's back is dropped from the index (its record too), so it is pulled
   * again. Returns the digests dropped.
   */
  async recheck(): Promise<{ digest: string; reason: string }[]> {
    const dropped: { digest: string; reason: string }[] = [];
    for (const [digest, module] of [...this.modules]) {
      if (this.flights.has(digest)) continue;
      let reason: string | undefined;
      try {
        const info = await stat(module.path);
        if (!info.isFile()) reason = 'not a regular file any more';
        else if (info.size !== module.size) reason = `size changed to ${info.size}, expected ${module.size}`;
      } catch (err) {
        reason =
          isNodeError(err) && err.code === 'ENOENT'
            ? 'file deleted'
            : `cannot stat: ${(err as Error).message}`;
      }
      if (reason !== undefined && this.modules.get(digest) === module) {
        this.modules.delete(digest);
        await this.removeFiles(digest).catch(() => undefined);
        dropped.push({ digest, reason });
      }
    }
    return dropped;
  }

  /** Settles when no fetch is in flight. */
  idle(): Promise<void> {
    return this.flights.idle();
  }
}
