/**
 * The cloud fallback: the image goes to the GPU runner's `POST /v1/upscale` (bearer token optional),
 * or, for images that live behind the edge, through the edge's URL API (`GET <edge>/<path>?sr&t&seed`).
 * Both run the same shared pipeline as the device, so the same seed gives the same pixels.
 */
import { OftsrError, canonicalizeParams } from '@oftsr/shared';
import type { RequestParams } from '@oftsr/shared';

/** Where the cloud is. */
export type CloudOptions =
  | {
      /** Base URL of a gpu-runner (`<runner>/v1/upscale`). */
      runner: string;
      /** Bearer token (one of the runner's `OFTSR_AUTH_TOKENS`). */
      token?: string;
    }
  | {
      /** Base URL of the edge Worker; inputs must then be URLs, whose path is appended to it. */
      edge: string;
    };

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
 * Upscales through the cloud. `source` is the image's bytes (runner) or its URL (edge).
 *
 * @throws OftsrError `upstream` when the cloud fails or answers an error; `bad_param` for an edge
 *   without a URL input; the signal's reason when aborted.
 */
export async function cloudUpscale(
  cloud: CloudOptions,
  source: { bytes?: Blob; url?: string },
  params: RequestParams,
  signal?: AbortSignal,
): Promise<CloudResult> {
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
      res = await fetch(new URL(`v1/upscale?${query}`, base), {
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
  if (!res.ok) throw await errorOf(res, where);
  if (res.headers.get('x-oftsr-cache') === 'fallback') {
    throw new OftsrError(
      'upstream',
      `the edge served its fallback (${res.headers.get('x-oftsr-fallback-reason') ?? 'runner failed'})`,
    );
  }
  const blob = await res.blob();
  return {
    blob,
    width: Number(res.headers.get('x-oftsr-width') ?? 0),
    height: Number(res.headers.get('x-oftsr-height') ?? 0),
    provider: res.headers.get('x-execution-provider') ?? 'cloud',
  };
}
