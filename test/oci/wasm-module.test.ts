import { readFileSync } from 'node:fs';
import { Readable, PassThrough } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { describe, expect, it } from 'vitest';
import { proxyWasmAbiVersions, WasmModuleValidator } from '../../src/oci/wasm-module.js';
import { sha256Digest } from '../../src/oci/digest.js';
import { moduleWithCustomSection, tinyProxyModule } from '../support/wasm-fixtures.js';

async function validate(bytes: Buffer, chunk = 7, limit?: number) {
  const validator = new WasmModuleValidator('test module', limit);
  const pieces: Buffer[] = [];
  for (let i = 0; i < bytes.length; i += chunk) pieces.push(bytes.subarray(i, i + chunk));
  await pipeline(Readable.from(pieces), validator, new PassThrough().resume());
  return validator.facts!;
}

describe('WasmModuleValidator', () => {
  it('accepts a real module fed in odd-sized chunks and reports its facts', async () => {
    const bytes = tinyProxyModule();
    const facts = await validate(bytes, 3);
    expect(facts).toEqual({
      size: bytes.length,
      digest: sha256Digest(bytes),
      exports: ['proxy_abi_version_0_2_1'],
      imports: [],
    });
    expect(proxyWasmAbiVersions(facts.exports)).toEqual(['v0.2.1']);
    expect(WebAssembly.validate(new Uint8Array(bytes))).toBe(true);
  });

  it('skips custom sections without buffering them (a 5 MiB module)', async () => {
    const bytes = moduleWithCustomSection(5 * 1024 * 1024);
    const facts = await validate(bytes, 64 * 1024);
    expect(facts.size).toBe(bytes.length);
    expect(facts.digest).toBe(sha256Digest(bytes));
  });

  it.each([
    ['empty input', Buffer.alloc(0), /it is empty/],
    ['JSON', Buffer.from('{"a":1}'), /looks like JSON/],
    ['WAT text', Buffer.from('(module)'), /wat2wasm/],
    ['gzip', Buffer.from([0x1f, 0x8b, 8, 0, 0, 0, 0, 0]), /gzip/],
    ['a wrong version', Buffer.from([0, 0x61, 0x73, 0x6d, 2, 0, 0, 0]), /binary version 2/],
    ['a truncated section', tinyProxyModule().subarray(0, 20), /truncated/],
    [
      'an unknown section id',
      Buffer.from([0, 0x61, 0x73, 0x6d, 1, 0, 0, 0, 0x2a, 0]),
      /unknown section id 42/,
    ],
  ])('rejects %s with a clear error', async (_name, bytes, message) => {
    const err = (await validate(bytes).catch((e: unknown) => e)) as {
      code: string;
      message: string;
      hint?: string;
    };
    expect(err.code).toBe('INVALID_MODULE');
    expect(`${err.message} | ${err.hint}`).toMatch(message);
  });

  it('rejects code V8 cannot compile, with V8s reason', async () => {
    const bytes = Buffer.from(tinyProxyModule());
    bytes[bytes.length - 1] = 0x00; // the function body no longer ends with `end`
    await expect(validate(bytes)).rejects.toMatchObject({
      code: 'INVALID_MODULE',
      message: expect.stringMatching(/not a valid WebAssembly module: .+/),
    });
  });

  it('enforces the size cap while streaming', async () => {
    await expect(validate(moduleWithCustomSection(4096), 512, 1000)).rejects.toMatchObject({
      code: 'TOO_LARGE',
    });
  });

  it('accepts the example filter built from AssemblyScript', async () => {
    const path = new URL('../../examples/header-filter/build/header-filter.wasm', import.meta.url);
    const facts = await validate(readFileSync(path), 4096);
    expect(proxyWasmAbiVersions(facts.exports)).toEqual(['v0.2.1']);
    expect(facts.exports).toContain('proxy_on_context_create');
  });
});
