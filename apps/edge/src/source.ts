import {
  canonicalSourcePath,
  IMAGE_MIME,
  OftsrError,
  type SourceFormat,
  type SourceIdentity,
} from '@oftsr/shared';
import type { Bindings } from './bindings.ts';
import type { EdgeConfig } from './config.ts';
import { sniffImage } from './image-size.ts';
import { conditionalHeaders, validatorOf, type Validator } from './freshness.ts';
import type { SourceLocation } from './source-location.ts';
import { blockedHostReason } from './ssrf.ts';

export type { SourceLocation };

/** A fetched, size-checked source image. */
export interface SourceImage {
  bytes: Uint8Array;
  format: SourceFormat;
  contentType: string;
  width: number;
  height: number;
  /** The origin URL it came from, for redirect fallbacks (absent for R2 sources). */
  originUrl?: URL;
  /** Which version of the source these bytes are (see freshness.ts). */
  validator: Validator;
}

/** The origin's answer to a conditional fetch: the version the caller holds is still current. */
export interface NotModified {
  notModified: true;
}

const REDIRECT_STATUSES = new Set([301, 302, 303, 307, 308]);
const PROBE_LIMIT = 1024 * 1024; // re-probe the growing prefix until 1 MiB, then only at the end

function badPath(message: string): OftsrError {
  return new OftsrError('bad_param', message, { field: 'path' });
}

/**
 * Maps a request path to its source. The path is first put in its one spelling
 * (`canonicalSourcePath`: unreserved escapes decoded, other escapes upper-case, `//` merged, dot
 * segments refused), then appended to `ORIGIN_URL` as text (never resolved as a URL reference) and
 * must stay under the origin's base path; backslashes and control characters are refused.
 *
 * @throws {OftsrError} 400 `bad_param` (field `path`).
 */
export function locateSource(pathname: string, config: EdgeConfig, env: Bindings): SourceLocation {
  if (pathname.length > 1024) throw badPath('the path is longer than 1024 characters');
  // One spelling per image before anything else sees the path: the key, the R2 key and the fetch.
  const path = canonicalSourcePath(pathname);
  if (path === '/') throw badPath('the path must name a source image');
  let decoded: string;
  try {
    decoded = decodeURIComponent(path);
  } catch {
    throw badPath('the path holds a malformed percent-escape');
  }
  // eslint-disable-next-line no-control-regex
  if (/[\u0000-\u001f\u007f\\]/.test(decoded) || decoded.split('/').some((s) => s === '..' || s === '.')) {
    // `%2F..%2F` decodes to dot segments in the R2 key; backslashes are separators to some origins.
    throw badPath('the path holds dot segments, backslashes or control characters');
  }
  const key = decoded.slice(1);
  let originUrl: URL | undefined;
  if (config.originUrl !== undefined) {
    originUrl = new URL(config.originUrl.href + path.slice(1));
    if (
      originUrl.origin !== config.originUrl.origin ||
      !originUrl.pathname.startsWith(config.originUrl.pathname)
    ) {
      throw badPath('the path leaves the origin');
    }
  }
  const hasBucket = env.SOURCE_BUCKET !== undefined;
  if (originUrl === undefined && !hasBucket) {
    throw new OftsrError('internal', 'configuration: neither ORIGIN_URL nor SOURCE_BUCKET is set');
  }
  // With both, the bucket mirrors the origin, so the origin URL names the source in the key.
  const identity: SourceIdentity =
    originUrl !== undefined
      ? { kind: 'url', url: originUrl.href }
      : { kind: 'url', url: `r2://source/${encodeURI(key)}` };
  return {
    ...(hasBucket ? { r2Key: key } : {}),
    ...(originUrl === undefined ? {} : { originUrl }),
    identity,
  };
}

/**
 * Refuses a host the edge must not fetch: not http(s), credentials in the URL, an origin (scheme,
 * host and port) outside the allow-list, or (unless `ALLOW_PRIVATE_ORIGINS`) a private/loopback/link-local literal or local name.
 *
 * @throws {OftsrError} 502 `upstream`.
 */
export function assertFetchable(url: URL, config: EdgeConfig): void {
  const refuse = (why: string): OftsrError =>
    new OftsrError('upstream', `source ${url.protocol}//${url.host} refused: ${why}`, { status: 502 });
  if (url.protocol !== 'https:' && url.protocol !== 'http:') throw refuse('not http(s)');
  if (url.username !== '' || url.password !== '') throw refuse('credentials in the URL');
  if (!config.allowedOrigins.has(url.origin)) throw refuse('scheme, host and port not in the allow-list');
  const blocked = blockedHostReason(url.hostname);
  if (blocked !== undefined && !config.allowPrivateOrigins) throw refuse(blocked);
}

/** Fetches from the origin, following at most `MAX_REDIRECTS` redirects, each one re-checked. */
async function fetchOrigin(
  start: URL,
  config: EdgeConfig,
  signal: AbortSignal,
  extraHeaders: Record<string, string> = {},
): Promise<{ response: Response; url: URL }> {
  let url = start;
  for (let hop = 0; ; hop++) {
    assertFetchable(url, config);
    let response: Response;
    try {
      response = await fetch(url.href, {
        redirect: 'manual',
        signal,
        headers: { accept: 'image/*', ...extraHeaders },
      });
    } catch (cause) {
      const timedOut = cause instanceof Error && cause.name === 'TimeoutError';
      throw new OftsrError(
        timedOut ? 'timeout' : 'upstream',
        `source fetch failed${timedOut ? ': timeout' : ''}`,
        {
          cause,
        },
      );
    }
    if (!REDIRECT_STATUSES.has(response.status)) return { response, url };
    await response.body?.cancel();
    const location = response.headers.get('location');
    if (location === null)
      throw new OftsrError('upstream', 'source redirect without Location', { status: 502 });
    if (hop >= config.maxRedirects) {
      throw new OftsrError('upstream', `source redirected more than ${config.maxRedirects} times`, {
        status: 502,
      });
    }
    try {
      url = new URL(location, url);
    } catch (cause) {
      throw new OftsrError('upstream', 'source redirect to a malformed URL', { status: 502, cause });
    }
  }
}

function tooLarge(message: string): OftsrError {
  return new OftsrError('too_large', message);
}

function concat(chunks: readonly Uint8Array[], total: number): Uint8Array {
  const out = new Uint8Array(total);
  let o = 0;
  for (const c of chunks) {
    out.set(c, o);
    o += c.length;
  }
  return out;
}

/**
 * Reads a source body under the byte cap (declared length first, then while streaming) and the
 * pixel cap (from header bytes, as soon as they arrive), cancelling the stream on refusal.
 *
 * @throws {OftsrError} 413 `too_large`, 415 `unsupported_format`, 400 `bad_image`, 504 `timeout`
 *   when `signal` aborts before the body is complete, 502 `upstream` when the stream breaks.
 */
export async function readSourceBody(
  body: ReadableStream<Uint8Array> | null,
  declaredLength: number | undefined,
  config: EdgeConfig,
  signal?: AbortSignal,
): Promise<Omit<SourceImage, 'originUrl' | 'validator'>> {
  if (declaredLength !== undefined && declaredLength > config.maxSourceBytes) {
    await body?.cancel();
    throw tooLarge(`source is ${declaredLength} bytes; the limit is ${config.maxSourceBytes}`);
  }
  if (body === null) throw new OftsrError('bad_image', 'source has no body');
  const reader = body.getReader();
  const chunks: Uint8Array[] = [];
  let total = 0;
  let size: { format: SourceFormat; width: number; height: number } | undefined;
  const check = async (final: boolean): Promise<void> => {
    const probe = sniffImage(concat(chunks, total));
    if (probe.status === 'need_more' && !final) return;
    let error: OftsrError | undefined;
    if (probe.status === 'unknown') {
      error = new OftsrError('unsupported_format', 'source is not a PNG, JPEG, WebP, AVIF or GIF image');
    } else if (probe.status === 'need_more') {
      error = new OftsrError('bad_image', `source ${probe.format} ends before its size is known`);
    } else if (probe.status === 'invalid') {
      error = new OftsrError('bad_image', `source ${probe.format} header is invalid: ${probe.reason}`);
    } else if (probe.width * probe.height > config.maxSourcePixels) {
      error = tooLarge(
        `source is ${probe.width}x${probe.height}; the limit is ${config.maxSourcePixels} pixels`,
      );
    } else {
      size = probe;
      return;
    }
    if (!final) await reader.cancel();
    throw error;
  };
  const stalled = new Promise<never>((_, reject) => {
    const fail = () =>
      reject(
        new OftsrError('timeout', `source body did not arrive within ${config.sourceTimeoutMs} ms`, {
          cause: signal?.reason,
        }),
      );
    if (signal?.aborted) fail();
    else signal?.addEventListener('abort', fail, { once: true });
  });
  stalled.catch(() => {}); // only awaited through the race below
  const read = async (): Promise<ReadableStreamReadResult<Uint8Array>> => {
    try {
      return await Promise.race([reader.read(), stalled]);
    } catch (cause) {
      await reader.cancel().catch(() => {});
      if (cause instanceof OftsrError) throw cause;
      const timedOut = cause instanceof Error && cause.name === 'TimeoutError';
      throw timedOut
        ? new OftsrError('timeout', `source body did not arrive within ${config.sourceTimeoutMs} ms`, {
            cause,
          })
        : new OftsrError('upstream', 'source body failed mid-stream', { status: 502, cause });
    }
  };
  for (;;) {
    const { done, value } = await read();
    if (done) break;
    total += value.length;
    if (total > config.maxSourceBytes) {
      await reader.cancel();
      throw tooLarge(`source exceeds ${config.maxSourceBytes} bytes`);
    }
    chunks.push(value);
    if (size === undefined && total <= PROBE_LIMIT) await check(false);
  }
  if (size === undefined) await check(true);
  const found = size as { format: SourceFormat; width: number; height: number };
  return { bytes: concat(chunks, total), ...found, contentType: IMAGE_MIME[found.format] };
}

/**
 * Fetches the source: `SOURCE_BUCKET` first (when bound), then the origin. With `ifNot`, the
 * fetch is conditional (`If-None-Match` / `If-Modified-Since`, or R2's `etagDoesNotMatch`) and a
 * source still at that version answers {@link NotModified} without a body.
 *
 * @throws {OftsrError} 404 when neither has it; 413/415/400 from {@link readSourceBody}; 502/504.
 */
export async function fetchSource(
  location: SourceLocation,
  config: EdgeConfig,
  env: Bindings,
  ifNot?: Validator,
): Promise<SourceImage | NotModified> {
  if (location.r2Key !== undefined && env.SOURCE_BUCKET !== undefined) {
    const bucket = env.SOURCE_BUCKET;
    const key = location.r2Key;
    // R2 takes the entity tag without its quotes; one it cannot take is simply fetched whole.
    const etag = ifNot !== undefined && 'etag' in ifNot ? ifNot.etag.replace(/^"(.*)"$/, '$1') : undefined;
    const object =
      etag === undefined
        ? await bucket.get(key)
        : await bucket.get(key, { onlyIf: { etagDoesNotMatch: etag } }).catch(() => bucket.get(key));
    if (object !== null) {
      if (!('body' in object)) return { notModified: true };
      const image = await readSourceBody((object as R2ObjectBody).body, object.size, config);
      const validator = await validatorOf({ etag: object.httpEtag }, image.bytes);
      return { ...image, validator };
    }
  }
  if (location.originUrl === undefined) throw new OftsrError('not_found', 'source not found');
  // One budget for the whole fetch: headers, redirects and body (a stalled body is a 504 too).
  const signal = AbortSignal.timeout(config.sourceTimeoutMs);
  const conditional = ifNot === undefined ? {} : conditionalHeaders(ifNot);
  const { response, url } = await fetchOrigin(location.originUrl, config, signal, conditional);
  if (response.status === 304 && ifNot !== undefined) {
    await response.body?.cancel();
    return { notModified: true };
  }
  if (response.status === 404 || response.status === 410) {
    await response.body?.cancel();
    throw new OftsrError('not_found', 'source not found');
  }
  if (!response.ok) {
    await response.body?.cancel();
    throw new OftsrError('upstream', `source answered ${response.status}`, { status: 502 });
  }
  const lengthHeader = response.headers.get('content-length');
  const declared =
    lengthHeader !== null && /^[0-9]{1,15}$/.test(lengthHeader) ? Number(lengthHeader) : undefined;
  const image = await readSourceBody(response.body, declared, config, signal);
  const validator = await validatorOf(
    { etag: response.headers.get('etag'), lastModified: response.headers.get('last-modified') },
    image.bytes,
  );
  return { ...image, originUrl: url, validator };
}

/** {@link fetchSource} without a condition: always the bytes. */
export async function fetchSourceBytes(
  location: SourceLocation,
  config: EdgeConfig,
  env: Bindings,
): Promise<SourceImage> {
  const fetched = await fetchSource(location, config, env);
  if ('notModified' in fetched) throw new OftsrError('internal', 'unconditional fetch answered 304');
  return fetched;
}
