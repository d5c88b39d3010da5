import { defineConfig } from 'vitest/config';

/**
 * The edge's end-to-end tests run in Node: they start `wrangler dev`, the real runner and a local
 * origin as processes (the harness, @oftsr/devkit, shared with `npm start` and e2e/). Skipped with a message
 * when the runner entry is missing, or with OFTSR_SKIP_E2E=1.
 */
export default defineConfig({
  test: {
    name: 'edge-e2e',
    include: ['e2e/**/*.e2e.test.ts'],
    environment: 'node',
    pool: 'forks',
    testTimeout: 120_000,
    hookTimeout: 240_000,
  },
});
