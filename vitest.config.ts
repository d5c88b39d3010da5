import { defineConfig } from 'vitest/config';

/**
 * One vitest run for the whole monorepo. Each app that ships its own `vitest.config.ts`
 * (e.g. apps/gpu-runner) is picked up by the glob, so adding a project needs no edit here.
 */
export default defineConfig({
  test: {
    projects: [
      {
        test: {
          name: 'shared',
          root: './packages/shared',
          include: ['src/**/*.test.ts'],
          environment: 'node',
          // Property tests run thousands of cases; CI has 2 cores that other suites share.
          testTimeout: 60_000,
        },
      },
      {
        test: {
          name: 'devkit',
          root: './packages/devkit',
          include: ['src/**/*.test.ts'],
          environment: 'node',
        },
      },
      'apps/*/vitest.config.ts',
      // The edge's end-to-end suite runs in Node (it starts wrangler dev and the runner as processes).
      'apps/edge/vitest.e2e.config.ts',
      // The whole stack (edge, runner, S3, SDK in Chromium) as real processes: e2e/ (issue #7).
      'e2e/vitest.config.ts',
    ],
  },
});
