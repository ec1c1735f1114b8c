import { createHash, type Hash } from 'node:crypto';
import { MeshwasmError } from '../errors.js';
import { ObservingStream, tooLarge, type ContentObserver } from './digest.js';

export const DEFAULT_MAX_MODULE_BYTES = 256 * 1024 * 1024;
const MAGIC = Buffer.from([0x00, 0x61, 0x73, 0x6d]);
const VERSION = Buffer.from([0x01, 0x00, 0x00, 0x00]);

export interface ModuleFacts {
  size: number;
  /** sha256 of the module bytes */
  digest: string;
  exports: string[];
  imports: string[];
}

/**
 * Checks a WebAssembly module while it streams past, without holding it whole: the header and the
 * section framing are checked incrementally, custom sections (names, debug info: usually the bulk of a
 * large module) are skipped, and the remaining sections are compiled by V8 at the end, so the module
 * passes exactly the validation Envoy's V8 runtime applies. `update` throws only when the module is
 * over the limit; every other fault is thrown by `end` (see update).
 */
export class WasmModuleChecker implements ContentObserver {
  private readonly what: string;
  private readonly limit: number;
  private readonly hash: Hash | undefined;
  private readonly kept: Buffer[] = [];
  private header = Buffer.alloc(0);
  private size = 0;
  /** parser state: reading a section id, its LEB128 size, or its payload */
  private state: 'header' | 'id' | 'size' | 'payload' = 'header';
  private sectionId = 0;
  private sizeBytes: number[] = [];
  private remaining = 0;
  private keepPayload = false;
  /** the first format error; reported at the end (see update) */
  private failure: Error | undefined;
  facts: ModuleFacts | undefined;

  /** set when the module's sha256 is already known (a raw Wasm layer verified upstream): no second hash */
  private readonly knownDigest: string | undefined;

  constructor(what: string, limit = DEFAULT_MAX_MODULE_BYTES, options: { knownDigest?: string } = {}) {
    this.what = what;
    this.limit = limit;
    this.knownDigest = options.knownDigest;
    if (this.knownDigest === undefined) this.hash = createHash('sha256');
  }

  update(chunk: Buffer): void {
    this.size += chunk.length;
    if (this.size > this.limit) throw tooLarge(this.what, this.limit);
    this.hash?.update(chunk);
    // A format error is held until the end rather than raised now: when the bytes were corrupted in
    // transit, the digest check upstream then fails the stream first, and the error says what happened
    // (a digest mismatch), not that the registry holds something that is not Wasm.
    if (this.failure === undefined) {
      try {
        this.parse(chunk);
      } catch (err) {
        this.failure = err as Error;
      }
    }
  }

  private parse(chunk: Buffer): void {
    let i = 0;
    while (i < chunk.length) {
      switch (this.state) {
        case 'header': {
          const need = 8 - this.header.length;
          this.header = Buffer.concat([this.header, chunk.subarray(i, i + need)]);
          i += Math.min(need, chunk.length - i);
          if (
            this.header.length >= 4 &&
            !this.header.subarray(0, 4).equals(MAGIC.subarray(0, Math.min(4, this.header.length)))
          ) {
            throw notWasm(this.what, this.header);
          }
          if (this.header.length === 8) {
            if (!this.header.subarray(4, 8).equals(VERSION)) {
              throw invalid(
                this.what,
                `unsupported binary version ${this.header.readUInt32LE(4)} (expected 1)`,
              );
            }
            this.kept.push(this.header);
            this.state = 'id';
          }
          break;
        }
        case 'id':
          this.sectionId = chunk[i++] ?? 0;
          if (this.sectionId > 13) throw invalid(this.what, `unknown section id ${this.sectionId}`);
          this.sizeBytes = [];
          this.state = 'size';
          break;
        case 'size': {
          const byte = chunk[i++] ?? 0;
          this.sizeBytes.push(byte);
          if (this.sizeBytes.length > 5) throw invalid(this.what, 'malformed section size');
          if ((byte & 0x80) === 0) {
            this.remaining = this.sizeBytes.reduce((acc, b, k) => acc + (b & 0x7f) * 2 ** (7 * k), 0);
            this.keepPayload = this.sectionId !== 0;
            if (this.keepPayload) this.kept.push(Buffer.from([this.sectionId, ...this.sizeBytes]));
            this.state = this.remaining === 0 ? 'id' : 'payload';
          }
          break;
        }
        case 'payload': {
          const take = Math.min(this.remaining, chunk.length - i);
          if (this.keepPayload) this.kept.push(Buffer.from(chunk.subarray(i, i + take)));
          this.remaining -= take;
          i += take;
          if (this.remaining === 0) this.state = 'id';
          break;
        }
      }
    }
  }

  end(): void {
    if (this.failure) throw this.failure;
    if (this.state === 'header')
      throw this.size === 0 ? invalid(this.what, 'it is empty') : notWasm(this.what, this.header);
    if (this.state !== 'id') throw invalid(this.what, 'it ends in the middle of a section (truncated)');
    let module: WebAssembly.Module;
    try {
      module = new WebAssembly.Module(Buffer.concat(this.kept));
    } catch (err) {
      throw invalid(this.what, (err as Error).message.replace(/^WebAssembly\.Module\(\): /, ''));
    }
    this.facts = {
      size: this.size,
      digest: this.knownDigest ?? `sha256:${(this.hash as Hash).digest('hex')}`,
      exports: WebAssembly.Module.exports(module).map((e) => e.name),
      imports: WebAssembly.Module.imports(module).map((e) => `${e.module}.${e.name}`),
    };
  }
}

/** WasmModuleChecker as a pass-through stream, for content that has no VerifyingStream to observe. */
export class WasmModuleValidator extends ObservingStream {
  private readonly checker: WasmModuleChecker;

  constructor(what: string, limit = DEFAULT_MAX_MODULE_BYTES, options: { knownDigest?: string } = {}) {
    const checker = new WasmModuleChecker(what, limit, options);
    super(checker);
    this.checker = checker;
  }

  get facts(): ModuleFacts | undefined {
    return this.checker.facts;
  }
}

function invalid(what: string, why: string): MeshwasmError {
  return new MeshwasmError('INVALID_MODULE', `${what} is not a valid WebAssembly module: ${why}`, {
    hint: 'build the filter for wasm32 (e.g. `cargo build --target wasm32-wasip1`, `asc ... --outFile filter.wasm`) and use the .wasm output',
  });
}

function notWasm(what: string, start: Buffer): MeshwasmError {
  const text = start.toString('latin1');
  let hint = 'a module starts with the bytes 00 61 73 6d ("\\0asm")';
  if (start[0] === 0x1f && start[1] === 0x8b) hint = 'this looks gzip-compressed: decompress it first';
  else if (text.startsWith('(module') || text.startsWith('('))
    hint = 'this looks like WebAssembly text (WAT): compile it with wat2wasm first';
  else if (text.startsWith('{') || text.startsWith('[')) hint = 'this looks like JSON, not a compiled module';
  else if (text.startsWith('\x7fELF'))
    hint = 'this is a native ELF binary; build for the wasm32 target instead';
  return new MeshwasmError(
    'INVALID_MODULE',
    `${what} is not a WebAssembly module (it starts with ${hex(start)})`,
    { hint },
  );
}

function hex(bytes: Buffer): string {
  return [...bytes.subarray(0, 4)].map((b) => b.toString(16).padStart(2, '0')).join(' ') || 'nothing';
}

/** The proxy-wasm ABI a module declares through its `proxy_abi_version_*` export. */
export function proxyWasmAbiVersions(exports: string[]): string[] {
  return exports
    .filter((name) => name.startsWith('proxy_abi_version_'))
    .map((name) => `v${name.slice('proxy_abi_version_'.length).replaceAll('_', '.')}`);
}
