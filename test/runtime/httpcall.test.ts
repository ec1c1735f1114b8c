import { describe, expect, it } from 'vitest';
import { loadFilter } from '../../src/testing/index.js';
import { watFixture } from '../fixtures/wasm/index.js';

describe('proxy_http_call', () => {
  it('pauses the request, sends the call, and continues with data from the answer', async () => {
    const filter = await loadFilter(await watFixture('httpcall'), { clusters: ['auth'] });
    const stream = await filter.newStream();
    expect(stream.sendRequestHeaders({ ':path': '/orders/7' })).toBe('pause');
    expect(filter.pendingCalls).toHaveLength(1);
    const call = filter.pendingCalls[0]!;
    expect(call.cluster).toBe('auth');
    expect(call.timeoutMs).toBe(5000);
    expect(call.headers).toEqual([
      [':method', 'GET'],
      [':path', '/orders/7'],
      [':authority', 'auth'],
    ]);
    const resumed = stream.waitResume('request');
    call.respond({ status: 200, headers: { 'x-auth-user': 'alice' }, body: 'token-123' });
    await expect(resumed).resolves.toBe('continue');
    expect(stream.requestHeader('x-auth-status')).toBe('200');
    expect(stream.requestHeader('x-auth-user')).toBe('alice');
    expect(stream.requestHeader('x-auth-body')).toBe('token-123');
    expect(filter.pendingCalls).toHaveLength(0);
    expect(() => call.respond({ status: 200 })).toThrow(/already answered/);
  });

  it('lets the filter answer locally from the call response (non-200 and failed calls)', async () => {
    const filter = await loadFilter(await watFixture('httpcall'), { clusters: ['auth'] });
    const denied = await filter.newStream();
    denied.sendRequestHeaders({ ':path': '/a' });
    const r1 = denied.waitResume('request');
    filter.pendingCalls[0]!.respond({ status: 403 });
    await expect(r1).resolves.toBe('local');
    expect(denied.localResponse?.status).toBe(401);

    const failed = await filter.newStream();
    failed.sendRequestHeaders({ ':path': '/b' });
    const r2 = failed.waitResume('request');
    filter.pendingCalls[0]!.fail();
    await expect(r2).resolves.toBe('local');
    expect(failed.localResponse?.status).toBe(503);
    expect(failed.localResponse?.text).toBe('auth unavailable');
  });

  it('refuses a call to an undeclared cluster with BAD_ARGUMENT and logs which one', async () => {
    const filter = await loadFilter(await watFixture('httpcall'), { clusters: ['auth'] });
    const stream = await filter.newStream();
    expect(stream.sendRequestHeaders({ ':path': '/unknown' })).toBe('continue');
    expect(stream.requestHeader('x-call-status')).toBe('2');
    expect(filter.pendingCalls).toHaveLength(0);
    expect(filter.messages('warn').join('\n')).toContain('unknown cluster "nope"');
  });

  it('drops a late answer for a stream that already ended', async () => {
    const filter = await loadFilter(await watFixture('httpcall'), { clusters: ['auth'] });
    const stream = await filter.newStream();
    stream.sendRequestHeaders({ ':path': '/late' });
    stream.complete();
    filter.pendingCalls[0]!.respond({ status: 200, body: 'x' });
    expect(stream.requestHeader('x-auth-body')).toBeUndefined();
  });
});
