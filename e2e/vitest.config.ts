import { defineConfig } from 'vitest/config';

/**
 * The whole stack end to end (issue #7), in Node with real processes: the test brings it up through
 * scripts/stack.ts (the same module as `npm start`) on free loopback ports and stops every process in
 * `afterAll`. One file, one stack, run serially: the machine may have two loaded cores.
 * OFTSR_SKIP_E2E=1 skips it.
 */
export default defineConfig({
  test: {
    name: 'e2e',
    root: import.meta.dirname,
    include: ['**/*.e2e.test.ts'],
    environment: 'node',
    pool: 'forks',
    fileParallelism: false,
    testTimeout: 180_000,
    hookTimeout: 300_000,
  },
});
