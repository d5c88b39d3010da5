// The wire between the edge, the runner, the SDK and the scripts: routes, header names and the
// metadata keys of stored outputs. Each name is spelled here once; a literal elsewhere is a bug
// waiting (the job path once wrote `oftsr-model-version` while the edge read `modelVersion`).

/** The runner's HTTP routes. */
export const RUNNER_ROUTES = {
  upscale: '/v1/upscale',
  jobs: '/v1/jobs',
  /** One job (hono's path syntax); its URL is `${RUNNER_ROUTES.jobs}/<id>`. */
  job: '/v1/jobs/:id',
  live: '/v2/health/live',
  ready: '/v2/health/ready',
  /** KServe v2 server metadata. */
  server: '/v2',
  /** KServe v2 model metadata and readiness (the model is named `oftsr`). */
  model: '/v2/models/oftsr',
  modelReady: '/v2/models/oftsr/ready',
  metrics: '/metrics',
} as const;

/** Header names, lower case as the Fetch API reports them. */
export const HEADERS = {
  requestId: 'x-request-id',
  /** How long the caller will wait, in ms; the runner refuses work that cannot finish by then. */
  deadlineMs: 'x-oftsr-deadline-ms',
  modelVersion: 'x-model-version',
  executionProvider: 'x-execution-provider',
  /** `hit`, `miss`, `bypass`, `pending`, …: how the edge answered. */
  cache: 'x-oftsr-cache',
  /** Which cache tier served a hit: `cache-api` or `r2`. */
  cacheTier: 'x-oftsr-cache-tier',
  /** Why the original was served instead of the upscaled image. */
  fallbackReason: 'x-oftsr-fallback-reason',
  ignoredParams: 'x-oftsr-ignored-params',
  /** The output's pixel size, as the runner encoded it (in a request: the box, `PARAM_HEADERS`). */
  width: 'x-oftsr-width',
  height: 'x-oftsr-height',
  timestamp: 'x-oftsr-timestamp',
  signature: 'x-oftsr-signature',
  contentSha256: 'x-oftsr-content-sha256',
} as const;

export type HeaderName = (typeof HEADERS)[keyof typeof HEADERS];

/**
 * Metadata keys of an output object, the same whether the edge wrote it through the R2 binding
 * (`customMetadata`) or a job wrote it through the S3 API (`x-amz-meta-<key>`). S3 lower-cases
 * metadata names on the wire, so every key is lower case and R2 reads back what S3 wrote.
 */
export const OBJECT_METADATA = {
  modelVersion: 'oftsr-model-version',
  model: 'oftsr-model',
  params: 'oftsr-params',
  provider: 'oftsr-provider',
  source: 'oftsr-source',
} as const;

export type ObjectMetadataKey = (typeof OBJECT_METADATA)[keyof typeof OBJECT_METADATA];

/**
 * An object-metadata value as it travels: HTTP header values carry visible ASCII only, so `%` and
 * every character outside printable ASCII are percent-encoded (UTF-8), e.g. a source key
 * `src/ü.png` is stored as `src/%C3%BC.png`. ASCII values without `%` are stored unchanged.
 */
export function encodeMetadataValue(value: string): string {
  return value
    .replace(/\p{Surrogate}/gu, '\uFFFD') // a lone surrogate has no UTF-8 spelling
    .replace(/[^\x20-\x24\x26-\x7e]+/gu, (run) => encodeURIComponent(run));
}

/** The inverse of {@link encodeMetadataValue}; a malformed escape is returned as stored. */
export function decodeMetadataValue(value: string): string {
  try {
    return decodeURIComponent(value);
  } catch {
    return value;
  }
}
