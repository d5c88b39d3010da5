import { defineConfig } from 'vitest/config';

/**
 * gpu-runner tests run against real onnxruntime-node sessions, so they get generous timeouts and
 * separate processes (forks: the native addon is not worker-thread friendly).
 */
export default defineConfig({
  test: {
    name: 'gpu-runner',
    include: ['src/**/*.test.ts'],
    environment: 'node',
    pool: 'forks',
    testTimeout: 60_000,
    hookTimeout: 60_000,
  },
});
