import { spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { startRegistry } from '../support/registry.js';

const root = new URL('../..', import.meta.url).pathname;

function demo(env: Record<string, string> = {}) {
  return spawnSync(process.execPath, ['--import', 'tsx', 'scripts/demo.ts'], {
    cwd: root,
    encoding: 'utf8',
    env: { ...process.env, ...env },
  });
}

describe('npm run demo (the README quick start)', () => {
  it('walks the seed on embedded defaults and shows the filter took effect', () => {
    const run = demo();
    expect(run.stderr).toBe('');
    expect(run.status).toBe(0);
    expect(run.stdout).toContain('[6/6] Stop everything');
    expect(run.stdout).toContain('< hello: hello details');
    expect(run.stdout).toContain('"resp-header-demo: added by our filter"');
  });

  it('pushes to the registry in MESHWASM_REGISTRY and syncs from it', async () => {
    const registry = await startRegistry();
    try {
      const run = demo({ MESHWASM_REGISTRY: registry.host, MESHWASM_PLAIN_HTTP: '1' });
      expect(run.status).toBe(0);
      expect(run.stdout).toContain(
        `images ConfigMap (istio-system/asmwasm-images): ${registry.host}/asm/asm-test@sha256:`,
      );
      expect(run.stdout).toContain('< hello: hello details');
    } finally {
      await registry.destroy();
    }
  });
});
