import { describe, expect, it } from 'vitest';
import { loadFilter } from '../../src/testing/index.js';
import { watFixture } from '../fixtures/wasm/index.js';

describe('body buffers', () => {
  it('buffers request chunks while the filter pauses, then applies prepend and append', async () => {
    const filter = await loadFilter(await watFixture('body'));
    const stream = await filter.newStream();
    expect(stream.sendRequestBody('hel', { endOfStream: false })).toBe('pause');
    expect(stream.sendRequestBody('lo', { endOfStream: false })).toBe('pause');
    expect(stream.sendRequestBody('!', { endOfStream: true })).toBe('continue');
    expect(stream.requestBody()).toBe('pre-hello!-post');
    expect(filter.messages()).toContain('request body size:6');
  });

  it('replaces the response body with a rewritten one', async () => {
    const filter = await loadFilter(await watFixture('body'));
    const stream = await filter.newStream();
    expect(stream.sendResponseBody('mixed Case 123', { endOfStream: true })).toBe('continue');
    expect(stream.responseBody()).toBe('MIXED CASE 123');
  });
});
