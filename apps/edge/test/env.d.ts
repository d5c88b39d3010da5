// Test-only bindings added by vitest.config.ts (not part of the Worker's Env).
declare namespace Cloudflare {
  interface Env {
    TEST_FIXTURES: string;
    RUNNER_TOKEN: string;
    SIGNING_KEYS: string;
  }
}
