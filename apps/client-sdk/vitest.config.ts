import { defineConfig } from 'vitest/config';

/**
 * client-sdk: unit tests (Node) beside the code, and the browser suite (test/*.browser.test.ts),
 * which drives Debian's Chromium with playwright-core and skips with a message when it is absent.
 */
export default defineConfig({
  test: {
    name: 'client-sdk',
    include: ['src/**/*.test.ts', 'test/**/*.test.ts'],
    environment: 'node',
    pool: 'forks',
    testTimeout: 180_000,
    hookTimeout: 240_000,
  },
});
