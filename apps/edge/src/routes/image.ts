import {
  cacheKey,
  HEADERS,
  OftsrError,
  parseMetadata,
  parseOnError,
  resolveOutputSize,
  toErrorBody,
  type OnErrorMode,
  type RequestParams,
  type SourceIdentity,
} from '@oftsr/shared';
import { Hono, type Context } from 'hono';
import type { Bindings } from '../bindings.ts';
import {
  IMMUTABLE,
  readCached,
  readR2,
  readRefusal,
  writeCached,
  writeRefusal,
  type CachedImage,
} from '../cache.ts';
import { joinInflight } from '../coalesce.ts';
import { readConfig, type EdgeConfig } from '../config.ts';
import { negotiateFormat, outputFormat } from '../format.ts';
import type { RequestIdVariables } from '../middleware/request-id.ts';
import type { SignatureVariables } from '../middleware/signature.ts';
import { isAnimated } from '../image-size.ts';
import { ignoredParams, resolveParams } from '../params.ts';
import { callRunner, RunnerError } from '../runner-client.ts';
import {
  identityOf,
  readRecord,
  sameValidator,
  writeRecord,
  type SourceRecord,
  type Validator,
} from '../freshness.ts';
import {
  fetchSource,
  fetchSourceBytes,
  locateSource,
  type SourceImage,
  type SourceLocation,
} from '../source.ts';

/** Why a fallback served the original: a runner failure, or `animated` (see {@link serveFallback}). */
export type FallbackReason = OftsrError | 'animated';

type Env = { Bindings: Bindings; Variables: RequestIdVariables & SignatureVariables };

function etagOf(key: string): string {
  return `"${key}"`;
}

/** RFC 9110 §13.1.2: `*` matches any current representation; otherwise a weak comparison. */
function notModified(request: Request, etag: string): boolean {
  const header = request.headers.get('if-none-match');
  if (header === null) return false;
  if (header.trim() === '*') return true;
  return header.split(',').some((t) => t.trim().replace(/^W\//, '') === etag);
}

function imageHeaders(
  contentType: string,
  key: string,
  modelVersion: string,
  status: string,
  vary: boolean,
): Headers {
  const headers = new Headers({
    'content-type': contentType,
    'cache-control': IMMUTABLE,
    etag: etagOf(key),
    [HEADERS.modelVersion]: modelVersion,
    [HEADERS.cache]: status,
  });
  if (vary) headers.set('vary', 'Accept');
  return headers;
}

function serveCached(
  request: Request,
  image: CachedImage,
  key: string,
  vary: boolean,
  status = 'hit',
): Response {
  const headers = imageHeaders(image.contentType, key, image.modelVersion, status, vary);
  headers.set(HEADERS.cacheTier, image.tier);
  if (notModified(request, etagOf(key))) {
    void image.body.cancel();
    return new Response(null, { status: 304, headers });
  }
  if (image.size !== undefined) headers.set('content-length', String(image.size));
  return new Response(image.body, { headers });
}

/** Runner error codes reported as themselves in `X-Oftsr-Fallback-Reason`; others are `upstream`. */
const REPORTED_REASONS = new Set(['overloaded', 'unavailable', 'timeout']);

/**
 * `X-Oftsr-Fallback-Reason`: `animated` for an animated source; for a runner failure `unsupported`
 * when the runner refused the image for good (415/422), its own `overloaded`/`unavailable`/`timeout`,
 * else `upstream`.
 */
function fallbackReason(err: FallbackReason): string {
  if (err === 'animated') return err;
  if (err instanceof RunnerError && err.permanent) return 'unsupported';
  return REPORTED_REASONS.has(err.code) ? err.code : 'upstream';
}

/**
 * The original image (or a 302 to it, `FALLBACK_MODE=redirect` or the URL's `onerror=redirect`, when
 * it came from a public origin), for when the runner is down, slow, failing or refuses the image, and
 * for animated sources (upscaling one frame would drop the animation). A transient failure gets
 * `FALLBACK_TTL_S`; a permanent refusal (`unsupported`) gets `REFUSAL_TTL_S`. Never an empty body.
 */
function serveFallback(
  source: SourceImage,
  config: EdgeConfig,
  reason: FallbackReason,
  onerror: OnErrorMode | undefined,
): Response {
  const why = fallbackReason(reason);
  const ttl = why === 'unsupported' ? config.refusalTtlS : config.fallbackTtlS;
  const headers = new Headers({
    'cache-control': `public, max-age=${ttl}`,
    [HEADERS.cache]: 'fallback',
    [HEADERS.fallbackReason]: why,
  });
  const redirect = onerror === undefined ? config.fallbackMode === 'redirect' : onerror === 'redirect';
  if (redirect && source.originUrl !== undefined) {
    headers.set('location', source.originUrl.href);
    return new Response(null, { status: 302, headers });
  }
  headers.set('content-type', source.contentType);
  headers.set('content-length', String(source.bytes.length));
  return new Response(source.bytes, { headers });
}

interface Miss {
  request: Request;
  env: Bindings;
  ctx: Pick<ExecutionContext, 'waitUntil'>;
  config: EdgeConfig;
  params: RequestParams;
  location: SourceLocation;
  /** The source version the key was made for, and its bytes when this request fetched them. */
  validator: Validator;
  source?: SourceImage;
  key: string;
  vary: boolean;
  requestId: string;
  onerror: OnErrorMode | undefined;
}

/** The source's current version: its record while fresh, else revalidated against the origin. */
async function currentSource(
  env: Bindings,
  config: EdgeConfig,
  location: SourceLocation,
  requestId: string,
): Promise<{ record: SourceRecord; source?: SourceImage }> {
  const now = Date.now();
  const record = await readRecord(env, location);
  if (record !== undefined && now - record.checkedAt < config.sourceTtlS * 1000) return { record };
  let fetched;
  try {
    fetched = await fetchSource(location, config, env, record?.validator);
  } catch (err) {
    // stale-if-error: while the origin fails (not when it says the source is gone), the version
    // we know keeps being served; it is checked again on the next request.
    const transient = err instanceof OftsrError && (err.code === 'upstream' || err.code === 'timeout');
    if (record === undefined || !transient) throw err;
    console.warn(JSON.stringify({ event: 'revalidation_failed', requestId, error: String(err) }));
    return { record };
  }
  if ('notModified' in fetched) {
    const next: SourceRecord = { ...(record as SourceRecord), checkedAt: now };
    await writeRecord(env, location, next);
    return { record: next };
  }
  const next: SourceRecord = {
    validator: fetched.validator,
    size: fetched.bytes.length,
    contentType: fetched.contentType,
    checkedAt: now,
  };
  await writeRecord(env, location, next);
  return { record: next, source: fetched };
}

/** A miss: fetch the source, call the runner, stream its answer while R2 stores it. */
async function produce(m: Miss, settle: (stored: boolean) => void): Promise<Response> {
  let source: SourceImage;
  let identity: SourceIdentity = identityOf(m.location, m.validator);
  let key = m.key;
  try {
    source = m.source ?? (await fetchSourceBytes(m.location, m.config, m.env));
    if (!sameValidator(source.validator, m.validator)) {
      // Replaced between the record and this fetch: these bytes are another version, another key.
      identity = identityOf(m.location, source.validator);
      key = await cacheKey({ params: m.params, source: identity, modelVersion: m.config.modelVersion });
      await writeRecord(m.env, m.location, {
        validator: source.validator,
        size: source.bytes.length,
        contentType: source.contentType,
        checkedAt: Date.now(),
      });
    }
  } catch (err) {
    settle(false);
    throw err;
  }
  if (isAnimated(source.bytes, source.format)) {
    settle(false);
    return serveFallback(source, m.config, 'animated', m.onerror);
  }
  let size;
  try {
    size = resolveOutputSize(m.params, source.width, source.height); // 400 for a box past ×4
  } catch (err) {
    settle(false);
    throw err;
  }
  const outputPixels = size.width * size.height;
  const format = outputFormat(m.params.format, source.format, outputPixels, m.config.avifMaxOutputPixels);
  let image;
  try {
    image = await callRunner(m.env, m.config, source, m.params, format, m.requestId);
  } catch (err) {
    settle(false);
    const reason =
      err instanceof OftsrError ? err : new OftsrError('upstream', 'runner failed', { cause: err });
    console.warn(
      JSON.stringify({ event: 'runner_fallback', requestId: m.requestId, ...toErrorBody(reason).error }),
    );
    const answer = serveFallback(source, m.config, reason, m.onerror);
    if (reason instanceof RunnerError && reason.permanent) {
      // A definite answer: remembered, so later views pay neither the origin nor the runner.
      m.ctx.waitUntil(
        writeRefusal(m.key, answer.clone()).catch((e: unknown) => console.warn('refusal put', e)),
      );
    }
    return answer;
  }
  let modelVersion = m.config.modelVersion;
  if (image.modelVersion !== undefined && image.modelVersion !== modelVersion) {
    console.warn(
      JSON.stringify({
        event: 'model_version_mismatch',
        requestId: m.requestId,
        configured: modelVersion,
        runner: image.modelVersion,
      }),
    );
    modelVersion = image.modelVersion;
    key = await cacheKey({ params: m.params, source: identity, modelVersion });
  }
  const [toClient, toStore] = image.body.tee();
  const stored = writeCached(m.env, key, toStore, image.length, {
    contentType: image.contentType,
    modelVersion,
  });
  m.ctx.waitUntil(
    stored.then(
      () => settle(key === m.key),
      (e: unknown) => {
        console.warn(JSON.stringify({ event: 'r2_write_failed', requestId: m.requestId, error: String(e) }));
        settle(false);
      },
    ),
  );
  const headers = imageHeaders(image.contentType, key, modelVersion, 'miss', m.vary);
  if (image.length !== undefined) headers.set('content-length', String(image.length));
  if (image.executionProvider !== undefined) headers.set(HEADERS.executionProvider, image.executionProvider);
  return new Response(toClient, { headers });
}

/**
 * `GET /<path>?sr=4&t=0.7`: the CDN image route. Order: signature (middleware, 403) → params
 * (shared schema, 400) → path → `Accept` → source version (record, or a conditional fetch after
 * `SOURCE_TTL_S`) → cache key → Cache API → R2 → coalesced runner call.
 */
export const image = new Hono<Env>().get('/*', async (c) => {
  const url = new URL(c.req.url);
  const ignored = ignoredParams(url.searchParams);
  const res = await serveImage(c, url);
  if (ignored.length > 0) res.headers.set(HEADERS.ignoredParams, ignored.join(','));
  return res;
});

async function serveImage(c: Context<Env>, url: URL): Promise<Response> {
  const config = readConfig(c.env);
  const requested = resolveParams(url.searchParams, c.get('signed'), config);
  const onerror = parseOnError(url.searchParams);
  parseMetadata(url.searchParams); // 400 for metadata=keep: outputs carry none
  const location = locateSource(url.pathname, config, c.env);
  const keyFormat = negotiateFormat(requested.format, c.req.header('accept') ?? null);
  const params: RequestParams = { ...requested, format: keyFormat };
  const vary = requested.format === 'auto';
  const { record, source } = await currentSource(c.env, config, location, c.get('requestId'));
  const key = await cacheKey({
    params,
    source: identityOf(location, record.validator),
    modelVersion: config.modelVersion,
  });
  const ctx = c.executionCtx;

  const cached = await readCached(c.env, ctx, key);
  if (cached !== undefined) return serveCached(c.req.raw, cached, key, vary);
  const refused = await readRefusal(key);
  if (refused !== undefined) return new Response(refused.body, refused);

  const joined = joinInflight(key);
  const miss: Miss = {
    request: c.req.raw,
    env: c.env,
    ctx,
    config,
    params,
    location,
    validator: record.validator,
    ...(source === undefined ? {} : { source }),
    key,
    vary,
    requestId: c.get('requestId'),
    onerror,
  };
  if ('wait' in joined) {
    // Bounded: a follower never waits longer than the leader's own runner budget (plus slack).
    const patience = new Promise<boolean>((r) => setTimeout(() => r(false), config.runnerTimeoutMs + 5_000));
    const stored = await Promise.race([joined.wait, patience]);
    const image = stored ? await readR2(c.env, key) : undefined;
    if (image !== undefined) return serveCached(c.req.raw, image, key, vary, 'hit');
    // The leader failed: serve the original rather than hitting a failing runner again (with the
    // leader's answer where the source alone decides it: animated, or a box past ×4).
    const original = source ?? (await fetchSourceBytes(location, config, c.env));
    if (isAnimated(original.bytes, original.format)) {
      return serveFallback(original, config, 'animated', onerror);
    }
    resolveOutputSize(params, original.width, original.height);
    return serveFallback(original, config, new OftsrError('upstream', 'coalesced leader failed'), onerror);
  }
  try {
    return await produce(miss, (stored) => joined.lead.settle(stored));
  } catch (err) {
    joined.lead.settle(false);
    throw err;
  }
}
