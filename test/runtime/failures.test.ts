import { describe, expect, it } from 'vitest';
import { isMeshwasmError } from '../../src/errors.js';
import { compileFilter, HOST_FUNCTIONS } from '../../src/runtime/index.js';
import { loadFilter } from '../../src/testing/index.js';
import { watFixture } from '../fixtures/wasm/index.js';

async function loadError(bytes: Uint8Array, name: string): Promise<Error> {
  const err = await loadFilter(bytes, { name }).then(
    () => undefined,
    (e: unknown) => e,
  );
  if (!(err instanceof Error)) throw new Error('expected the load to fail');
  return err;
}

describe('failures', () => {
  it('a trap in a callback surfaces as an error naming filter and callback, and the next stream gets a fresh VM', async () => {
    const filter = await loadFilter(await watFixture('trap'), { name: 'trappy' });
    const bad = await filter.newStream();
    let caught: unknown;
    try {
      bad.sendRequestHeaders({ ':path': '/trap' });
    } catch (err) {
      caught = err;
    }
    expect(isMeshwasmError(caught, 'RUNTIME')).toBe(true);
    expect((caught as Error).message).toBe('filter "trappy": trap in proxy_on_request_headers: unreachable');
    bad.complete(); // finishing a stream of a dead VM is harmless

    const good = await filter.newStream();
    expect(good.sendRequestHeaders({ ':path': '/fine' })).toBe('continue');
    good.sendResponseHeaders({ ':status': '200' });
    expect(good.responseHeader('x-trap-filter')).toBe('ok');
  });

  it('a trap while the VM starts is a load error naming the filter', async () => {
    const err = await loadError(await watFixture('trap-on-start'), 'starter');
    expect(err.message).toBe('filter "starter": trap in proxy_on_vm_start: unreachable');
  });

  it('an unknown import is a load error that names the import', async () => {
    const err = await loadError(await watFixture('unknown-import'), 'alien');
    expect(isMeshwasmError(err, 'INVALID_MODULE')).toBe(true);
    expect(err.message).toBe('filter "alien": imports env.proxy_teleport, which the host does not provide');
  });

  it('refuses bytes that are not WebAssembly, and invalid WebAssembly, with the filter name', async () => {
    const text = await loadError(new TextEncoder().encode('#!/bin/sh\necho not wasm\n'), 'script');
    expect(text.message).toBe('filter "script": not a WebAssembly module (no \\0asm header)');
    const broken = await loadError(new Uint8Array([0, 0x61, 0x73, 0x6d, 1, 0, 0, 0, 0x01, 0xff]), 'broken');
    expect(broken.message).toMatch(/^filter "broken": invalid WebAssembly: /);
  });

  it('refuses a module without a proxy-wasm ABI marker', async () => {
    const err = await loadError(await watFixture('no-abi'), 'plain');
    expect(err.message).toBe('filter "plain": not a proxy-wasm module (exports no proxy_abi_version_*)');
  });

  it('accepts ABI 0.1.0 modules (proxy_get_configuration, proxy_continue_request, malloc)', async () => {
    expect((await compileFilter(await watFixture('abi-0-1-0'), 'old')).abi).toBe('0.1.0');
    const filter = await loadFilter(await watFixture('abi-0-1-0'), { configuration: 'legacy-config' });
    expect(filter.messages()).toEqual(['legacy-config']);
    expect((await filter.newStream()).sendRequestHeaders({ ':path': '/' })).toBe('continue');
  });

  it('provides every host function of ABI 0.2.1 and the WASI set SDKs import', () => {
    const env = HOST_FUNCTIONS.get('env')!;
    for (const fn of [
      'proxy_log',
      'proxy_get_log_level',
      'proxy_get_current_time_nanoseconds',
      'proxy_set_tick_period_milliseconds',
      'proxy_get_buffer_bytes',
      'proxy_set_buffer_bytes',
      'proxy_get_buffer_status',
      'proxy_get_header_map_size',
      'proxy_get_header_map_pairs',
      'proxy_set_header_map_pairs',
      'proxy_get_header_map_value',
      'proxy_add_header_map_value',
      'proxy_replace_header_map_value',
      'proxy_remove_header_map_value',
      'proxy_continue_stream',
      'proxy_close_stream',
      'proxy_get_status',
      'proxy_send_local_response',
      'proxy_http_call',
      'proxy_set_shared_data',
      'proxy_get_shared_data',
      'proxy_register_shared_queue',
      'proxy_resolve_shared_queue',
      'proxy_enqueue_shared_queue',
      'proxy_dequeue_shared_queue',
      'proxy_define_metric',
      'proxy_record_metric',
      'proxy_increment_metric',
      'proxy_get_metric',
      'proxy_get_property',
      'proxy_set_property',
      'proxy_set_effective_context',
      'proxy_done',
      'proxy_call_foreign_function',
      'proxy_grpc_call',
    ]) {
      expect(env.has(fn), fn).toBe(true);
    }
    const wasi = HOST_FUNCTIONS.get('wasi_snapshot_preview1')!;
    for (const fn of [
      'fd_write',
      'clock_time_get',
      'random_get',
      'environ_get',
      'environ_sizes_get',
      'args_get',
      'args_sizes_get',
      'proc_exit',
    ]) {
      expect(wasi.has(fn), fn).toBe(true);
    }
  });
});
