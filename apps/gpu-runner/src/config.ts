/**
 * The runner's configuration: environment variables, validated with zod once at start. Every
 * variable is listed here with its default and documented in the table in README.md; an invalid
 * value stops the process with a message naming the variable.
 */
import { DEFAULT_MAX_INPUT_PIXELS, DEFAULT_MAX_OUTPUT_PIXELS, DEFAULT_TILE_SIZES } from '@oftsr/shared';
import { z } from 'zod';
import { EXECUTION_PROVIDERS } from './inference/onnx-session.ts';
import type { ExecutionProvider } from './inference/onnx-session.ts';

const MiB = 1024 * 1024;

/**
 * Tiling by execution provider, when OFTSR_TILE_SIZES / OFTSR_FIXED_TILES are unset. Any tile list
 * gives the same pixels (contract 2), so this is a speed choice. On the CPU shapes cost nothing to
 * change: an image runs as one tile of exactly its frame up to 640², and larger ones in 640² tiles
 * (bench/runner/STAGES.md: ~1.2–1.6× the image's pixels instead of 2.25–3× with 256² tiles). Other
 * providers keep a few fixed, warmed shapes that tiles of concurrent requests can share in a batch.
 */
export const PROVIDER_TILING: Readonly<
  Record<'cpu' | 'other', { tileSizes: number[]; fixedTiles: boolean }>
> = {
  cpu: { tileSizes: [640], fixedTiles: false },
  other: { tileSizes: [...DEFAULT_TILE_SIZES], fixedTiles: true },
};

const int = (min: number, max = Number.MAX_SAFE_INTEGER) => z.coerce.number().int().min(min).max(max);
const bool = z
  .enum(['0', '1', 'true', 'false', 'yes', 'no'])
  .transform((v) => v === '1' || v === 'true' || v === 'yes');
const list = z.string().transform((v) =>
  v
    .split(',')
    .map((x) => x.trim())
    .filter((x) => x.length > 0),
);

/** The environment schema; keys are the variable names. */
export const ConfigEnv = z.object({
  OFTSR_HOST: z.string().min(1).default('0.0.0.0'),
  OFTSR_PORT: int(0, 65535).default(8080),
  OFTSR_MODEL: z.string().min(1).optional(),
  OFTSR_PROVIDERS: list
    .pipe(z.array(z.enum(EXECUTION_PROVIDERS as [ExecutionProvider, ...ExecutionProvider[]])).min(1))
    .default(['cpu']),
  OFTSR_REQUIRE_PROVIDER: z
    .enum(EXECUTION_PROVIDERS as [ExecutionProvider, ...ExecutionProvider[]])
    .optional(),
  OFTSR_THREADS: int(0, 1024).default(0),
  OFTSR_TILE_SIZES: list
    .pipe(z.array(z.string().regex(/^[0-9]{1,5}$/, 'must be positive integers')).min(1))
    .transform((v) => [...new Set(v.map(Number))].sort((a, b) => a - b))
    .optional(),
  OFTSR_FIXED_TILES: bool.optional(),
  OFTSR_MAX_BATCH: int(1, 64).default(4),
  OFTSR_MAX_DELAY_MS: int(0, 1000).default(5),
  OFTSR_BATCH_CONCURRENCY: int(1, 16).default(1),
  OFTSR_MAX_QUEUE: int(1, 10_000).default(16),
  OFTSR_MAX_INPUT_BYTES: int(1).default(20 * MiB),
  OFTSR_MAX_INPUT_MEGAPIXELS: z.coerce
    .number()
    .positive()
    .max(256)
    .default(DEFAULT_MAX_INPUT_PIXELS / 1e6),
  OFTSR_MAX_INPUT_SIDE: int(1, 65535).default(8192),
  OFTSR_MAX_OUTPUT_MEGAPIXELS: z.coerce
    .number()
    .positive()
    .max(4096)
    .default(DEFAULT_MAX_OUTPUT_PIXELS / 1e6),
  OFTSR_MAX_WORK_MB: int(16, 1 << 20).default(4096),
  OFTSR_BODY_TIMEOUT_MS: int(1).default(10_000),
  OFTSR_DEFAULT_DEADLINE_MS: int(1).default(120_000),
  OFTSR_MAX_DEADLINE_MS: int(1).default(600_000),
  OFTSR_DRAIN_TIMEOUT_MS: int(0).default(25_000),
  OFTSR_AUTH_TOKENS: list.default([]),
  OFTSR_AUTH_HMAC_SECRET: z.string().min(16).optional(),
  OFTSR_AUTH_MAX_SKEW_S: int(1).default(300),
  OFTSR_AUTH_DISABLED: bool.default(false),
  OFTSR_S3_ENDPOINT: z.url().optional(),
  OFTSR_S3_REGION: z.string().min(1).default('auto'),
  OFTSR_S3_BUCKET: z.string().min(1).optional(),
  OFTSR_S3_FORCE_PATH_STYLE: bool.default(false),
  OFTSR_S3_PART_SIZE_MB: int(5, 512).default(8),
  OFTSR_S3_MAX_ATTEMPTS: int(1, 10).default(3),
  OFTSR_S3_TIMEOUT_MS: int(100).default(30_000),
  OFTSR_JOB_CONCURRENCY: int(1, 64).default(1),
  OFTSR_MAX_QUEUED_JOBS: int(1).default(100),
  OFTSR_JOB_RETENTION: int(1).default(10_000),
});

/** The validated configuration. */
export interface Config {
  host: string;
  port: number;
  modelPath: string | undefined;
  providers: ExecutionProvider[];
  requireProvider: ExecutionProvider | undefined;
  threads: number;
  tileSizes: number[];
  /** Images smaller than their tile are padded up to it (fixed shapes); else they run at their frame size. */
  fixedTiles: boolean;
  maxBatch: number;
  maxDelayMs: number;
  batchConcurrency: number;
  maxQueue: number;
  maxInputBytes: number;
  maxInputPixels: number;
  maxInputSide: number;
  maxOutputPixels: number;
  /** Working memory all admitted requests may hold together (estimated, `priceUpscale`), bytes. */
  maxWorkBytes: number;
  bodyTimeoutMs: number;
  defaultDeadlineMs: number;
  maxDeadlineMs: number;
  drainTimeoutMs: number;
  auth: { tokens: string[]; hmacSecret: string | undefined; maxSkewS: number; disabled: boolean };
  s3: {
    endpoint: string | undefined;
    region: string;
    bucket: string | undefined;
    forcePathStyle: boolean;
    partSizeBytes: number;
    maxAttempts: number;
    timeoutMs: number;
  };
  jobs: { concurrency: number; maxQueued: number; retention: number };
}

/**
 * Validates the environment.
 *
 * @throws {Error} listing every bad variable by name, e.g. `OFTSR_MAX_BATCH: Too big: expected number to be <=64`.
 * @example const config = loadConfig(process.env);
 */
export function loadConfig(env: Readonly<Record<string, string | undefined>>): Config {
  // Empty strings count as unset, as they do in most shells and Kubernetes manifests.
  const present = Object.fromEntries(Object.entries(env).filter(([, v]) => v !== undefined && v !== ''));
  const result = ConfigEnv.safeParse(present);
  if (!result.success) {
    const problems = result.error.issues.map((i) => `${String(i.path[0] ?? '(env)')}: ${i.message}`);
    throw new Error(`invalid configuration: ${problems.join('; ')}`);
  }
  const e = result.data;
  const problems: string[] = [];
  if (!e.OFTSR_AUTH_DISABLED && e.OFTSR_AUTH_TOKENS.length === 0 && !e.OFTSR_AUTH_HMAC_SECRET) {
    problems.push('set OFTSR_AUTH_TOKENS or OFTSR_AUTH_HMAC_SECRET (or OFTSR_AUTH_DISABLED=1 for local use)');
  }
  if (e.OFTSR_AUTH_TOKENS.some((t) => t.length < 16))
    problems.push('OFTSR_AUTH_TOKENS: each token needs ≥ 16 characters');
  if (e.OFTSR_DEFAULT_DEADLINE_MS > e.OFTSR_MAX_DEADLINE_MS) {
    problems.push('OFTSR_DEFAULT_DEADLINE_MS must not exceed OFTSR_MAX_DEADLINE_MS');
  }
  if (problems.length > 0) throw new Error(`invalid configuration: ${problems.join('; ')}`);
  const tiling =
    PROVIDER_TILING[(e.OFTSR_REQUIRE_PROVIDER ?? e.OFTSR_PROVIDERS[0]) === 'cpu' ? 'cpu' : 'other'];
  return {
    host: e.OFTSR_HOST,
    port: e.OFTSR_PORT,
    modelPath: e.OFTSR_MODEL,
    providers: e.OFTSR_PROVIDERS,
    requireProvider: e.OFTSR_REQUIRE_PROVIDER,
    threads: e.OFTSR_THREADS,
    tileSizes: e.OFTSR_TILE_SIZES ?? tiling.tileSizes,
    fixedTiles: e.OFTSR_FIXED_TILES ?? (e.OFTSR_TILE_SIZES ? true : tiling.fixedTiles),
    maxBatch: e.OFTSR_MAX_BATCH,
    maxDelayMs: e.OFTSR_MAX_DELAY_MS,
    batchConcurrency: e.OFTSR_BATCH_CONCURRENCY,
    maxQueue: e.OFTSR_MAX_QUEUE,
    maxInputBytes: e.OFTSR_MAX_INPUT_BYTES,
    maxInputPixels: Math.floor(e.OFTSR_MAX_INPUT_MEGAPIXELS * 1e6),
    maxInputSide: e.OFTSR_MAX_INPUT_SIDE,
    maxOutputPixels: Math.floor(e.OFTSR_MAX_OUTPUT_MEGAPIXELS * 1e6),
    maxWorkBytes: e.OFTSR_MAX_WORK_MB * MiB,
    bodyTimeoutMs: e.OFTSR_BODY_TIMEOUT_MS,
    defaultDeadlineMs: e.OFTSR_DEFAULT_DEADLINE_MS,
    maxDeadlineMs: e.OFTSR_MAX_DEADLINE_MS,
    drainTimeoutMs: e.OFTSR_DRAIN_TIMEOUT_MS,
    auth: {
      tokens: e.OFTSR_AUTH_TOKENS,
      hmacSecret: e.OFTSR_AUTH_HMAC_SECRET,
      maxSkewS: e.OFTSR_AUTH_MAX_SKEW_S,
      disabled: e.OFTSR_AUTH_DISABLED,
    },
    s3: {
      endpoint: e.OFTSR_S3_ENDPOINT,
      region: e.OFTSR_S3_REGION,
      bucket: e.OFTSR_S3_BUCKET,
      forcePathStyle: e.OFTSR_S3_FORCE_PATH_STYLE,
      partSizeBytes: e.OFTSR_S3_PART_SIZE_MB * MiB,
      maxAttempts: e.OFTSR_S3_MAX_ATTEMPTS,
      timeoutMs: e.OFTSR_S3_TIMEOUT_MS,
    },
    jobs: {
      concurrency: e.OFTSR_JOB_CONCURRENCY,
      maxQueued: e.OFTSR_MAX_QUEUED_JOBS,
      retention: e.OFTSR_JOB_RETENTION,
    },
  };
}
