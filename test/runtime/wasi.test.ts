import { describe, expect, it } from 'vitest';
import { loadFilter } from '../../src/testing/index.js';
import { watFixture } from '../fixtures/wasm/index.js';

describe('WASI surface', () => {
  it('logs stdout/stderr by line and serves clock, randomness, the filter environment and no arguments', async () => {
    const filter = await loadFilter(await watFixture('wasi'), { env: { GREETING: 'hi' } });
    expect(filter.logs).toEqual([
      { level: 'info', message: 'hello from stdout' },
      { level: 'info', message: 'partial line' },
      { level: 'error', message: 'oops on stderr' },
      { level: 'info', message: 'badf:8' },
      { level: 'info', message: 'clock:0' },
      { level: 'info', message: 'random-nonzero:1' },
      { level: 'info', message: 'env-count:1' },
      { level: 'info', message: 'env:GREETING=hi' },
      { level: 'info', message: 'argc:0' },
    ]);
  });

  it('does not expose the host environment by default', async () => {
    const filter = await loadFilter(await watFixture('wasi'));
    expect(filter.messages()).toContain('env-count:0');
  });

  it('treats proc_exit as the end of the VM, reported with the filter name', async () => {
    const filter = await loadFilter(await watFixture('wasi'), { name: 'quitter' });
    const stream = await filter.newStream();
    expect(() => stream.sendRequestHeaders({ ':path': '/' })).toThrow(
      'filter "quitter": trap in proxy_on_request_headers: the module called proc_exit(3)',
    );
  });

  it('accepts proc_exit(0) at the end of _start as a normal start', async () => {
    const filter = await loadFilter(await watFixture('exit-zero'));
    expect(filter.messages()).toEqual(['started']);
    expect((await filter.newStream()).sendRequestHeaders({ ':path': '/' })).toBe('continue');
  });
});
