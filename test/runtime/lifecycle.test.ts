import { describe, expect, it } from 'vitest';
import { loadFilter } from '../../src/testing/index.js';
import { isMeshwasmError } from '../../src/errors.js';
import { watFixture } from '../fixtures/wasm/index.js';

describe('lifecycle', () => {
  it('starts the VM, creates root and stream contexts and runs every stream callback in order', async () => {
    const filter = await loadFilter(await watFixture('lifecycle'), {
      configuration: 'plugin-cfg',
      vmConfiguration: 'vm-cfg',
    });
    const stream = await filter.newStream();
    expect(stream.sendRequestHeaders({ ':method': 'POST', ':path': '/' })).toBe('continue');
    expect(stream.sendRequestBody('abc')).toBe('continue');
    expect(stream.sendRequestTrailers({ 'x-t': '1', 'x-u': '2' })).toBe('continue');
    expect(stream.sendResponseHeaders({ ':status': '200' }, { endOfStream: true })).toBe('continue');
    stream.complete();
    expect(filter.messages()).toEqual([
      'initialize',
      'context_create:0',
      'vm_start:vm-cfg',
      'config_size:10',
      'configure:plugin-cfg',
      'context_create:1',
      'request_headers:0',
      'request_body:3',
      'request_trailers:2',
      'response_headers:1',
      'done',
      'log',
      'delete',
    ]);
  });

  it('completing a stream twice runs on_done/on_log/on_delete once', async () => {
    const filter = await loadFilter(await watFixture('lifecycle'));
    const stream = await filter.newStream();
    stream.complete();
    stream.complete();
    expect(filter.messages().filter((m) => m === 'delete')).toHaveLength(1);
  });

  it('fails to load, naming the filter, when proxy_on_configure rejects the configuration', async () => {
    const err = await loadFilter(await watFixture('lifecycle'), {
      name: 'picky',
      configuration: 'reject-me',
    }).catch((e: unknown) => e);
    expect(isMeshwasmError(err, 'RUNTIME')).toBe(true);
    expect((err as Error).message).toContain('filter "picky"');
    expect((err as Error).message).toContain('proxy_on_configure rejected');
  });

  it('tears the root context down (on_done, on_delete) when the plugin closes', async () => {
    const filter = await loadFilter(await watFixture('lifecycle'));
    const before = filter.messages().length;
    filter.close();
    expect(filter.messages().slice(before)).toEqual(['done', 'delete']);
    await expect(filter.newStream()).rejects.toThrow('filter "filter-under-test" is closed');
  });

  it('sends objects as JSON configuration', async () => {
    const filter = await loadFilter(await watFixture('lifecycle'), { configuration: { a: 1 } });
    expect(filter.messages()).toContain('configure:{"a":1}');
  });
});
