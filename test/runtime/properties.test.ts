import { describe, expect, it } from 'vitest';
import { loadFilter } from '../../src/testing/index.js';
import { watFixture } from '../fixtures/wasm/index.js';

describe('properties and context calls', () => {
  it('reads Envoy attributes, sets and reads back its own, and gets clean errors for bad context calls', async () => {
    const filter = await loadFilter(await watFixture('properties'), { rootId: 'my_root_id' });
    const stream = await filter.newStream({ sourceAddress: '10.1.2.3', sourcePort: 40000 });
    stream.sendRequestHeaders({ ':method': 'PUT', ':path': '/details/123?x=1' });
    expect(stream.requestHeader('x-prop-path')).toBe('/details/123?x=1');
    expect(stream.requestHeader('x-method')).toBe('PUT');
    expect(stream.requestHeader('x-root-id')).toBe('my_root_id');
    expect(stream.requestHeader('x-source')).toBe('10.1.2.3:40000');
    expect(stream.requestHeader('x-my-prop')).toBe('val');
    expect(new TextDecoder().decode(stream.property('my.prop'))).toBe('val');
    expect(stream.requestHeader('x-missing')).toBe('1'); // NOT_FOUND
    expect(stream.requestHeader('x-effective-bad')).toBe('2'); // BAD_ARGUMENT
    expect(stream.requestHeader('x-done')).toBe('1'); // NOT_FOUND: nothing pending
  });

  it('encodes response.code as a little-endian int64', async () => {
    const filter = await loadFilter(await watFixture('properties'));
    const stream = await filter.newStream();
    stream.sendResponseHeaders({ ':status': '418' });
    expect(stream.responseHeader('x-code')).toBe('418');
  });
});
