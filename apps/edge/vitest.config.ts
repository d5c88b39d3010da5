import { readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { cloudflareTest } from '@cloudflare/vitest-plugin';
import { defineConfig } from 'vitest/config';

const manifestPath = fileURLToPath(new URL('../../models/oftsr-student-x4.json', import.meta.url));
const modelVersion = (JSON.parse(readFileSync(manifestPath, 'utf8')) as { version: string }).version;

// Source images for the tests (workerd has no file system): the project's samples plus the
// re-encodings in test/fixtures (scripts/make-fixtures.ts), as one JSON binding of base64 strings.
const fixtures: Record<string, string> = {};
for (const dir of ['../../samples/', './test/fixtures/']) {
  const path = fileURLToPath(new URL(dir, import.meta.url));
  for (const name of readdirSync(path).filter((n) => /\.(png|jpe?g|webp|avif|gif)$/.test(n))) {
    fixtures[name] = readFileSync(path + name).toString('base64');
  }
}

/**
 * The edge's tests run inside workerd (@cloudflare/vitest-plugin) with the bindings of
 * `wrangler.toml`'s dev environment; test-only secrets and the model version are added here.
 */
export default defineConfig({
  plugins: [
    cloudflareTest({
      wrangler: { configPath: '../../wrangler.toml', environment: 'dev' },
      miniflare: {
        bindings: {
          MODEL_VERSION: modelVersion,
          RUNNER_URL: 'http://runner.test',
          RUNNER_TOKEN: 'test-runner-token',
          ORIGIN_URL: 'https://origin.test/images/',
          SIGNING_KEYS: 'test-key-current,test-key-previous',
          TEST_FIXTURES: JSON.stringify(fixtures),
        },
      },
    }),
  ],
  test: {
    name: 'edge',
    include: ['test/**/*.test.ts'],
    testTimeout: 30_000,
  },
});
