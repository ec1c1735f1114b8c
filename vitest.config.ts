import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    // Builds the example filter (examples/header-filter) when its .wasm is missing or stale.
    globalSetup: ['test/support/global-setup.ts'],
    // Integration tests start real registries and processes; two cores is what CI has.
    pool: 'forks',
    poolOptions: { forks: { maxForks: 2, minForks: 1 } },
  },
});
