/**
 * The cloud fallback: the image goes to the GPU runner's `POST /v1/upscale` (bearer token optional),
 * or, for images that live behind the edge, through the edge's URL API (`GET <edge>/<path>?sr&t&seed`).
 * Both run the same shared pipeline as the device, so the same seed gives the same pixels.
 */
import { HEADERS, OftsrError, RUNNER_ROUTES, canonicalizeParams } from '@oftsr/shared';
import type { RequestParams } from '@oftsr/shared';

/** How the cloud call retries a busy cloud (429 or 503). */
export interface CloudRetryOptions {
  /** Retries after the first try (default 2). */
  retries?: number;
  /** The longest `Retry-After` worth waiting, in seconds (default 30): a longer one fails at once. */
  maxWaitS?: number;
}

/** Where the cloud is. */
export type CloudOptions = CloudRetryOptions &
  (
    | {
        /** Base URL of a gpu-runner (`<runner>/v1/upscale`). */
        runner: string;
        /** Bearer token (one of the runner's `OFTSR_AUTH_TOKENS`). */
        token?: string;
      }
    | {
        /** Base URL of the edge Worker; inputs must then be URLs, whose path is appended to it. */
        edge: string;
      }
  );

/** What the cloud call reports while it runs (the SDK turns it into progress). */
export type CloudEvent =
  | { type: 'sent'; attempt: number }
  | { type: 'retry'; status: number; waitMs: number; attempt: number }
  | { type: 'answered' };

/** Statuses that mean "busy, try again later" (the runner sends `Retry-After` with both). */
const RETRY_STATUSES = new Set([429, 503]);

/**
 * Milliseconds a `Retry-After` asks for: delta-seconds or an HTTP date (RFC 9110 §10.2.3); 1 s when
 * absent or unreadable.
 */
export function retryAfterMs(header: string | null, now = Date.now()): number {
  if (header === null || header.trim() === '') return 1000;
  const text = header.trim();
  if (/^[0-9]{1,9}$/.test(text)) return Number(text) * 1000;
  const date = Date.parse(text);
  return Number.isNaN(date) ? 1000 : Math.max(0, date - now);
}

function sleep(ms: number, signal: AbortSignal | undefined): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const onAbort = (): void => {
      clearTimeout(timer);
      reject(signal?.reason);
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

/** The answer of a cloud upscale. */
export interface CloudResult {
  blob: Blob;
  width: number;
  height: number;
  provider: string;
}

async function errorOf(res: Response, where: string): Promise<OftsrError> {
  const text = await res.text().catch(() => '');
  let message = text.slice(0, 300);
  try {
    const body = JSON.parse(text) as { error?: { message?: string } };
    message = body.error?.message ?? message;
  } catch {
    // not JSON: keep the text
  }
  return new OftsrError('upstream', `${where} answered ${res.status}: ${message}`, { status: 502 });
}

/**
 * Upscales through the cloud. `source` is the image's bytes (runner) or its URL (edge). A busy cloud
 * (429, 503) is retried up to `cloud.retries` times after the `Retry-After` it sent (abortable).
 *
 * @throws OftsrError `upstream` when the cloud fails or answers an error (`overloaded` /
 *   `unavailable` when still busy after the retries); `bad_param` for an edge without a URL input;
 *   the signal's reason when aborted.
 */
export async function cloudUpscale(
  cloud: CloudOptions,
  source: { bytes?: Blob; url?: string },
  params: RequestParams,
  signal?: AbortSignal,
  onEvent?: (event: CloudEvent) => void,
): Promise<CloudResult> {
  const retries = cloud.retries ?? 2;
  const maxWaitMs = (cloud.maxWaitS ?? 30) * 1000;
  for (let attempt = 1; ; attempt++) {
    onEvent?.({ type: 'sent', attempt });
    const { res, where } = await send(cloud, source, params, signal);
    if (RETRY_STATUSES.has(res.status)) {
      const waitMs = retryAfterMs(res.headers.get('retry-after'));
      if (attempt <= retries && waitMs <= maxWaitMs) {
        await res.body?.cancel();
        onEvent?.({ type: 'retry', status: res.status, waitMs, attempt });
        await sleep(waitMs, signal);
        continue;
      }
      const error = await errorOf(res, where);
      throw new OftsrError(
        res.status === 429 ? 'overloaded' : 'unavailable',
        `${error.message} (still busy after ${attempt} ${attempt === 1 ? 'try' : 'tries'})`,
        { status: 502 },
      );
    }
    onEvent?.({ type: 'answered' });
    return readAnswer(res, where);
  }
}

async function send(
  cloud: CloudOptions,
  source: { bytes?: Blob; url?: string },
  params: RequestParams,
  signal: AbortSignal | undefined,
): Promise<{ res: Response; where: string }> {
  const query = canonicalizeParams({ ...params, format: 'png' });
  let res: Response;
  let where: string;
  try {
    if ('runner' in cloud) {
      if (!source.bytes) throw new OftsrError('bad_param', 'the runner needs the image bytes');
      where = 'the runner';
      const headers: Record<string, string> = {
        'content-type': source.bytes.type || 'application/octet-stream',
      };
      if (cloud.token) headers.authorization = `Bearer ${cloud.token}`;
      const base = new URL(
        cloud.runner.endsWith('/') ? cloud.runner : `${cloud.runner}/`,
        globalThis.location?.href,
      );
      // Relative to the base, so a runner behind a path prefix works.
      res = await fetch(new URL(`${RUNNER_ROUTES.upscale.slice(1)}?${query}`, base), {
        method: 'POST',
        body: source.bytes,
        headers,
        ...(signal ? { signal } : {}),
      });
    } else {
      if (!source.url) {
        throw new OftsrError(
          'bad_param',
          'the edge fallback needs a URL input (the edge fetches the source itself)',
          {
            field: 'cloud',
          },
        );
      }
      where = 'the edge';
      const path = new URL(source.url, globalThis.location?.href).pathname;
      const base = cloud.edge.replace(/\/$/, '');
      res = await fetch(`${base}${path}?${query}`, signal ? { signal } : {});
    }
  } catch (err) {
    if (signal?.aborted) throw signal.reason;
    if (err instanceof OftsrError) throw err;
    throw new OftsrError(
      'upstream',
      `the cloud could not be reached: ${err instanceof Error ? err.message : String(err)}`,
      {
        cause: err,
      },
    );
  }
  return { res, where };
}

async function readAnswer(res: Response, where: string): Promise<CloudResult> {
  if (!res.ok) throw await errorOf(res, where);
  const cache = res.headers.get(HEADERS.cache);
  if (cache === 'fallback') {
    throw new OftsrError(
      'upstream',
      `the edge served its fallback (${res.headers.get(HEADERS.fallbackReason) ?? 'runner failed'})`,
    );
  }
  if (cache === 'pending') {
    // The original image while the edge finishes the upscale in the background: not a result.
    await res.body?.cancel();
    throw new OftsrError(
      'unavailable',
      'the edge is still upscaling this image (pending); ask again shortly',
    );
  }
  const blob = await res.blob();
  return {
    blob,
    width: Number(res.headers.get(HEADERS.width) ?? 0),
    height: Number(res.headers.get(HEADERS.height) ?? 0),
    provider: res.headers.get(HEADERS.executionProvider) ?? 'cloud',
  };
}
