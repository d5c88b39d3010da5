import { canonicalizeParams, OftsrError, type RequestParams } from '@oftsr/shared';
import type { Bindings } from './bindings.ts';
import type { EdgeConfig } from './config.ts';
import type { EncodedFormat } from './format.ts';

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

/** The runner's synchronous upscale route. */
export const RUNNER_PATH = '/v1/upscale';

/**
 * Sends the source bytes to the runner's `POST /v1/upscale` (params in the query, canonical form,
 * with the concrete output format), through the `RUNNER` service binding when bound, else `fetch`
 * to `RUNNER_URL`, with `Authorization: Bearer RUNNER_TOKEN` and `AbortSignal.timeout`.
 *
 * @throws {OftsrError} 504 `timeout`, 502 `upstream` (unreachable, non-2xx, not an image).
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
  const url = `${base}${RUNNER_PATH}?${canonicalizeParams({ ...params, format })}`;
  const headers: Record<string, string> = {
    'content-type': source.contentType,
    'x-request-id': requestId,
    // The runner abandons work the edge will no longer wait for.
    'x-oftsr-deadline-ms': String(config.runnerTimeoutMs),
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
    await response.body?.cancel();
    throw new OftsrError(
      'upstream',
      `runner answered ${response.status} ${contentType || '(no content type)'}`,
    );
  }
  const lengthHeader = response.headers.get('content-length');
  const modelVersion = response.headers.get('x-model-version');
  const provider = response.headers.get('x-execution-provider');
  return {
    body: response.body,
    contentType,
    ...(lengthHeader !== null && /^[0-9]{1,15}$/.test(lengthHeader) ? { length: Number(lengthHeader) } : {}),
    ...(modelVersion === null || modelVersion === '' ? {} : { modelVersion }),
    ...(provider === null || provider === '' ? {} : { executionProvider: provider }),
  };
}
