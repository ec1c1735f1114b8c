import { describe, expect, it } from 'vitest';
import { serializePairs } from '../../src/runtime/index.js';
import { loadFilter } from '../../src/testing/index.js';
import { watFixture } from '../fixtures/wasm/index.js';

describe('header map host functions', () => {
  it('adds, replaces and removes request headers, and reports NOT_FOUND and bad pointers as statuses', async () => {
    const filter = await loadFilter(await watFixture('headers'));
    const stream = await filter.newStream();
    const decision = stream.sendRequestHeaders({
      ':path': '/items',
      'x-replace': 'old',
      'x-remove': 'bye',
      other: 'kept',
    });
    expect(decision).toBe('continue');
    expect(stream.requestHeaders).toEqual([
      [':path', '/items'],
      ['x-replace', 'new'],
      ['other', 'kept'],
      ['x-path-seen', '/items'],
      ['x-added', '1'],
      ['x-missing', '1'], // NOT_FOUND
      ['x-oob', '6'], // INVALID_MEMORY_ACCESS, and the host kept running
    ]);
  });

  it('round-trips all pairs through get/set and reports the serialised map size', async () => {
    const filter = await loadFilter(await watFixture('headers'));
    const stream = await filter.newStream();
    const original: Array<[string, string]> = [
      [':status', '200'],
      ['content-type', 'text/plain'],
      ['set-cookie', 'a=1'],
      ['set-cookie', 'b=2'],
    ];
    stream.sendResponseHeaders(original);
    expect(stream.responseHeaders.slice(0, 4)).toEqual(original);
    expect(stream.responseHeader('x-response-map-size')).toBe(String(serializePairs(original).length));
  });

  it('adds response trailers', async () => {
    const filter = await loadFilter(await watFixture('headers'));
    const stream = await filter.newStream();
    stream.sendResponseTrailers({ 'grpc-status': '0' });
    expect(stream.responseTrailers).toEqual([
      ['grpc-status', '0'],
      ['x-trailer', 't'],
    ]);
  });

  it('sends a local response with status, details, body and headers', async () => {
    const filter = await loadFilter(await watFixture('headers'));
    const stream = await filter.newStream();
    expect(stream.sendRequestHeaders({ ':path': '/deny' })).toBe('local');
    const local = stream.localResponse!;
    expect(local.status).toBe(403);
    expect(local.details).toBe('denied-by-filter');
    expect(local.text).toBe('denied');
    expect(local.headers).toEqual([['x-denied', 'yes']]);
  });

  it('resets the stream with proxy_close_stream', async () => {
    const filter = await loadFilter(await watFixture('headers'));
    const stream = await filter.newStream();
    expect(stream.sendRequestHeaders({ ':path': '/reset' })).toBe('reset');
    await expect(stream.waitResume('request')).resolves.toBe('reset');
  });
});
