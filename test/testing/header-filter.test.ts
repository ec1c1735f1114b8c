import { describe, expect, it } from 'vitest';
import { loadFilter } from '../../src/testing/index.js';
import { HEADER_FILTER_WASM } from '../support/global-setup.js';

describe('the example header filter (AssemblyScript) through meshwasm/testing', () => {
  it('adds the header named in its configuration (the seed filter.yaml parameters)', async () => {
    const filter = await loadFilter(HEADER_FILTER_WASM, {
      rootId: 'my_root_id',
      configuration: '{"name":"hello","value":"hello details"}',
    });
    const stream = await filter.newStream();
    expect(
      stream.sendRequestHeaders({ ':method': 'GET', ':path': '/details/123' }, { endOfStream: true }),
    ).toBe('continue');
    expect(stream.sendResponseHeaders({ ':status': '200', 'content-type': 'application/json' })).toBe(
      'continue',
    );
    expect(stream.responseHeader('hello')).toBe('hello details');
    expect(stream.responseHeader('resp-header-demo')).toBeUndefined();
    expect(stream.sendResponseBody('{"id":123}')).toBe('continue');
    expect(stream.responseBody()).toBe('{"id":123}');
    stream.complete();
  });

  it('ends streams and shuts down without an error (proxy_on_done/on_delete for stream and root ids)', async () => {
    const filter = await loadFilter(HEADER_FILTER_WASM, { rootId: 'my_root_id' });
    const stream = await filter.newStream();
    stream.sendResponseHeaders({ ':status': '200' });
    stream.complete();
    filter.close();
    expect(filter.messages('error')).toEqual([]);
  });

  it('adds resp-header-demo: added by our filter without configuration', async () => {
    const filter = await loadFilter(HEADER_FILTER_WASM);
    const stream = await filter.newStream();
    stream.sendResponseHeaders({ ':status': '200' });
    expect(stream.responseHeader('resp-header-demo')).toBe('added by our filter');
  });

  it('leaves request headers alone', async () => {
    const filter = await loadFilter(HEADER_FILTER_WASM);
    const stream = await filter.newStream();
    stream.sendRequestHeaders({ ':method': 'GET', ':path': '/', accept: '*/*' });
    expect(stream.requestHeaders).toEqual([
      [':method', 'GET'],
      [':path', '/'],
      ['accept', '*/*'],
    ]);
  });

  it('refuses a configuration that is not a JSON object of strings, naming the filter', async () => {
    const err = await loadFilter(HEADER_FILTER_WASM, {
      name: 'details-v1-wasmfiltersample',
      configuration: '[1,2]',
    }).catch((e: unknown) => e as Error);
    expect(err).toBeInstanceOf(Error);
    expect((err as Error).message).toContain(
      'filter "details-v1-wasmfiltersample": proxy_on_configure rejected',
    );
  });

  it('serves many streams from one VM without leaking contexts', async () => {
    const filter = await loadFilter(HEADER_FILTER_WASM, { configuration: { name: 'x-n', value: 'v' } });
    for (let i = 0; i < 200; i++) {
      const stream = await filter.newStream();
      stream.sendResponseHeaders({ ':status': '200' });
      expect(stream.responseHeader('x-n')).toBe('v');
      stream.complete();
    }
  });
});
