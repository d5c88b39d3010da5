import {
  cacheKey,
  canonicalizeParams,
  ErrorBody,
  HEADERS,
  OftsrError,
  RUNNER_ROUTES,
  type EncodedFormat,
  type ErrorCode,
  type RequestParams,
  type SourceIdentity,
} from '@oftsr/shared';
import type { Bindings } from './bindings.ts';
import type { EdgeConfig } from './config.ts';

/** The runner's answer: an image stream plus what the edge needs to store it. */
export interface RunnerImage {
  body: ReadableStream<Uint8Array>;
  contentType: string;
  /** Declared length, when the runner sent `Content-Length`. */
  length?: number;
  /** `X-Model-Version` as sent by the runner (absent if it sent none). */
  modelVersion?: string;
  executionProvider?: string;
}

/**
 * The model version and cache key an output is stored under. The runner's reported version wins: one
 * that differs from `configured` (a runner rolled out before the edge's MODEL_VERSION) gives another
 * key, so the configured key stays empty and is asked again. Logged as `model_version_mismatch`.
 */
export async function storageKey(
  image: RunnerImage,
  want: {
    key: string;
    modelVersion: string;
    params: RequestParams;
    source: SourceIdentity;
    requestId: string;
  },
): Promise<{ key: string; modelVersion: string }> {
  const reported = image.modelVersion;
  if (reported === undefined || reported === want.modelVersion)
    return { key: want.key, modelVersion: want.modelVersion };
  console.warn(
    JSON.stringify({
      event: 'model_version_mismatch',
      requestId: want.requestId,
      configured: want.modelVersion,
      runner: reported,
    }),
  );
  const key = await cacheKey({ params: want.params, source: want.source, modelVersion: reported });
  return { key, modelVersion: reported };
}

/**
 * The runner answered with an error. `permanent` when it refused this image for good (415/422:
 * a format it does not take, a limit the image is over): asking again cannot change the answer.
 * The code is the runner's own (`overloaded`, `unavailable`, `timeout`, …) when it sent one.
 */
export class RunnerError extends OftsrError {
  readonly runnerStatus: number;
  readonly permanent: boolean;

  constructor(code: ErrorCode, message: string, runnerStatus: number) {
    super(code, message, { status: 502 });
    this.name = 'RunnerError';
    this.runnerStatus = runnerStatus;
    this.permanent = runnerStatus === 415 || runnerStatus === 422;
  }
}

async function runnerError(response: Response, contentType: string): Promise<RunnerError> {
  let code: ErrorCode = 'upstream';
  let detail = '';
  if (!response.ok && contentType.startsWith('application/json')) {
    const parsed = ErrorBody.safeParse(await response.json().catch(() => null));
    if (parsed.success) {
      code = parsed.data.error.code;
      detail = `: ${parsed.data.error.message}`;
    }
  } else {
    await response.body?.cancel();
  }
  return new RunnerError(
    code,
    `runner answered ${response.status} ${contentType || '(no content type)'}${detail}`,
    response.status,
  );
}

/**
 * Sends the source bytes to the runner's `POST /v1/upscale` (params in the query, canonical form,
 * with the concrete output format), through the `RUNNER` service binding when bound, else `fetch`
 * to `RUNNER_URL`, with `Authorization: Bearer RUNNER_TOKEN` and `AbortSignal.timeout` (which
 * bounds the answer's body too).
 *
 * @throws {OftsrError} 504 `timeout`, 502 `upstream` (unreachable); {@link RunnerError} for a
 *   non-2xx answer or one that is not an image.
 */
export async function callRunner(
  env: Bindings,
  config: EdgeConfig,
  source: { bytes: Uint8Array; contentType: string },
  params: RequestParams,
  format: EncodedFormat,
  requestId: string,
): Promise<RunnerImage> {
  const base = env.RUNNER !== undefined ? 'https://runner.internal' : config.runnerUrl;
  if (base === undefined) throw new OftsrError('upstream', 'no runner configured (RUNNER or RUNNER_URL)');
  const url = `${base}${RUNNER_ROUTES.upscale}?${canonicalizeParams({ ...params, format })}`;
  const headers: Record<string, string> = {
    'content-type': source.contentType,
    [HEADERS.requestId]: requestId,
    // The runner abandons work the edge will no longer wait for.
    [HEADERS.deadlineMs]: String(config.runnerTimeoutMs),
  };
  if (env.RUNNER_TOKEN) headers.authorization = `Bearer ${env.RUNNER_TOKEN}`;
  const init: RequestInit = {
    method: 'POST',
    body: source.bytes,
    headers,
    signal: AbortSignal.timeout(config.runnerTimeoutMs),
  };
  let response: Response;
  try {
    response = env.RUNNER !== undefined ? await env.RUNNER.fetch(url, init) : await fetch(url, init);
  } catch (cause) {
    if (cause instanceof Error && cause.name === 'TimeoutError') {
      throw new OftsrError('timeout', `runner did not answer within ${config.runnerTimeoutMs} ms`, { cause });
    }
    throw new OftsrError('upstream', 'runner unreachable', { cause });
  }
  const contentType = response.headers.get('content-type') ?? '';
  if (!response.ok || response.body === null || !contentType.startsWith('image/')) {
    throw await runnerError(response, contentType);
  }
  const lengthHeader = response.headers.get('content-length');
  const modelVersion = response.headers.get(HEADERS.modelVersion);
  const provider = response.headers.get(HEADERS.executionProvider);
  return {
    body: response.body,
    contentType,
    ...(lengthHeader !== null && /^[0-9]{1,15}$/.test(lengthHeader) ? { length: Number(lengthHeader) } : {}),
    ...(modelVersion === null || modelVersion === '' ? {} : { modelVersion }),
    ...(provider === null || provider === '' ? {} : { executionProvider: provider }),
  };
}
