/** Where things are in the repository, and the constants every loopback process agrees on. */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The repository root. */
export const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
/** The runner's entry point. */
export const RUNNER_ENTRY = join(ROOT, 'apps/gpu-runner/src/index.ts');
/** wrangler's CLI, from the root node_modules. */
export const WRANGLER_ENTRY = join(ROOT, 'node_modules/wrangler/bin/wrangler.js');
/** The Python interpreter of the repo's venv (moto lives there; bin/setup installs it). */
export const VENV_PYTHON = join(ROOT, '.venv/bin/python');
/** The model version the edge is configured with (from the shipped manifest). */
export const MODEL_VERSION = (
  JSON.parse(readFileSync(join(ROOT, 'models/oftsr-student-x4.json'), 'utf8')) as { version: string }
).version;
/** The runner's bearer token when the caller names none (loopback only). */
export const RUNNER_TOKEN = 'e2e-runner-token-0123456789';
/** The runner's S3 bucket in the local stack. */
export const LOCAL_BUCKET = 'oftsr-local';
