/**
 * A runner composed in-process for `app.request()` tests: the real model, small tile sizes so warm-up
 * and requests stay quick on a loaded 2-core machine, auth by bearer token and HMAC.
 */
import { loadConfig } from '../config.ts';
import { createRuntime } from '../runtime.ts';
import type { Runtime } from '../runtime.ts';

/** The bearer token test runners accept. */
export const TEST_TOKEN = 'test-token-0123456789abcdef';
/** The HMAC secret test runners accept. */
export const TEST_HMAC_SECRET = 'test-hmac-secret-0123456789abcdef';

/** Environment for a test runner (in-process or spawned). */
export function testEnv(overrides: Record<string, string> = {}): Record<string, string> {
  return {
    OFTSR_AUTH_TOKENS: TEST_TOKEN,
    OFTSR_AUTH_HMAC_SECRET: TEST_HMAC_SECRET,
    OFTSR_TILE_SIZES: '32,64,128',
    OFTSR_MAX_BATCH: '4',
    OFTSR_MAX_DELAY_MS: '20',
    OFTSR_THREADS: '2',
    ...overrides,
  };
}

/** Builds and starts a runtime. */
export async function startRuntime(overrides: Record<string, string> = {}): Promise<Runtime> {
  const runtime = createRuntime(loadConfig(testEnv(overrides)));
  await runtime.start();
  return runtime;
}
