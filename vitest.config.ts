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
        },
      },
      'apps/*/vitest.config.ts',
      // The edge's end-to-end suite runs in Node (it starts wrangler dev and the runner as processes).
      'apps/edge/vitest.e2e.config.ts',
    ],
  },
});
