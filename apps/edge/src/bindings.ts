/**
 * The Worker's bindings: the `Env` that `wrangler types` generates from wrangler.toml
 * (worker-configuration.d.ts, regenerated, never edited), plus what that file cannot know:
 * the secrets, the optional runner service binding, and that the source bucket is optional.
 */
export type Bindings = Omit<Cloudflare.Env, 'SOURCE_BUCKET' | 'WORK_QUEUE'> & {
  /** Optional work queue (background upscales); without it a miss waits for the runner. */
  WORK_QUEUE?: Queue;
  /** Optional R2 bucket holding source images (looked up before the origin). */
  SOURCE_BUCKET?: R2Bucket;
  /** Optional service binding to the runner; when bound it is used instead of `RUNNER_URL`. */
  RUNNER?: Fetcher;
  /** Secret: comma-separated HMAC keys; the first signs, all verify (rotation). */
  SIGNING_KEYS?: string;
  /** Secret: bearer token the runner expects (`Authorization: Bearer …`). */
  RUNNER_TOKEN?: string;
  /** Var (optional, code default): seconds a permanent runner refusal is remembered and served. */
  REFUSAL_TTL_S?: string;
  /** Var (optional, code default): time budget of one source fetch, headers and body, ms. */
  SOURCE_TIMEOUT_MS?: string;
  /** Var (optional, code default): seconds a source record (validator, size, type) stays fresh. */
  SOURCE_TTL_S?: string;
  /**
   * Secret: the operator's bearer token, for `POST /_oftsr/purge`, `POST /_oftsr/prewarm` and
   * `GET /_oftsr/work` (all three are off without it).
   */
  PURGE_TOKEN?: string;
};
