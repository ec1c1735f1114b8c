/**
 * VerifyingStream with observers: what the agent and `meshwasm pull` check a module with, in the
 * verifier's own pass. An observer sees every chunk in order and its end only once size and digest
 * have passed, so a corrupted blob is reported as a digest mismatch, never as what the observer thinks.
 */
import { Readable, PassThrough } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { expect, it } from 'vitest';
import { sha256Digest, VerifyingStream, type ContentObserver } from '../../src/oci/digest.js';
import { WasmModuleChecker } from '../../src/oci/wasm-module.js';
import { tinyProxyModule } from '../support/wasm-fixtures.js';

function pieces(bytes: Buffer, size: number): Buffer[] {
  const out: Buffer[] = [];
  for (let i = 0; i < bytes.length; i += size) out.push(bytes.subarray(i, i + size));
  return out;
}

async function run(bytes: Buffer, digest: string, observer: ContentObserver): Promise<void> {
  const verifier = new VerifyingStream({ digest, size: bytes.length, what: 'blob' });
  verifier.observe(observer);
  await pipeline(Readable.from(pieces(bytes, 5)), verifier, new PassThrough().resume());
}

it('shows every chunk to its observers in order, then their end', async () => {
  const bytes = Buffer.from('the quick brown fox jumps over the lazy dog');
  const seen: string[] = [];
  let ended = 0;
  await run(bytes, sha256Digest(bytes), {
    update: (chunk) => void seen.push(chunk.toString()),
    end: () => void ended++,
  });
  expect(seen.join('')).toBe(bytes.toString());
  expect(seen.length).toBe(Math.ceil(bytes.length / 5));
  expect(ended).toBe(1);
});

it('checks a module in its pass: facts at the end, the known digest not hashed again', async () => {
  const bytes = tinyProxyModule();
  const checker = new WasmModuleChecker('module', undefined, { knownDigest: sha256Digest(bytes) });
  await run(bytes, sha256Digest(bytes), checker);
  expect(checker.facts).toMatchObject({ size: bytes.length, digest: sha256Digest(bytes) });
  expect(checker.facts?.exports).toContain('proxy_abi_version_0_2_1');
});

it('reports a corrupted module as a digest mismatch and never ends its observers', async () => {
  const bytes = tinyProxyModule();
  const corrupted = Buffer.from(bytes);
  corrupted[0] = 0x7b; // no longer "\0asm": the checker alone would say "not a WebAssembly module"
  const checker = new WasmModuleChecker('module');
  await expect(run(corrupted, sha256Digest(bytes), checker)).rejects.toMatchObject({
    code: 'DIGEST_MISMATCH',
  });
  expect(checker.facts).toBeUndefined();
});

it('fails the stream with an observer error: a module over its limit, or not Wasm at all', async () => {
  const bytes = tinyProxyModule();
  await expect(
    run(bytes, sha256Digest(bytes), new WasmModuleChecker('module', bytes.length - 1)),
  ).rejects.toMatchObject({ code: 'TOO_LARGE' });
  const json = Buffer.from('{"not":"wasm"}');
  await expect(run(json, sha256Digest(json), new WasmModuleChecker('module'))).rejects.toMatchObject({
    code: 'INVALID_MODULE',
    hint: expect.stringContaining('looks like JSON'),
  });
});
