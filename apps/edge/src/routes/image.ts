import {
  cacheKey,
  HEADERS,
  canonicalizeParams,
  OftsrError,
  parseMetadata,
  parseOnError,
  parseWait,
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
import { callRunner, RunnerError, storageKey } from '../runner-client.ts';
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
import { backgroundUntil, claimWork, enqueueWork, releaseWork, workState } from '../work.ts';

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
  return serveOriginal(source, config, onerror, headers);
}

/** The source's bytes with `headers`, or a 302 to the origin where `onerror`/`FALLBACK_MODE` asks. */
function serveOriginal(
  source: SourceImage,
  config: EdgeConfig,
  onerror: OnErrorMode | undefined,
  headers: Headers,
): Response {
  const redirect = onerror === undefined ? config.fallbackMode === 'redirect' : onerror === 'redirect';
  if (redirect && source.originUrl !== undefined) {
    headers.set('location', source.originUrl.href);
    return new Response(null, { status: 302, headers });
  }
  headers.set('content-type', source.contentType);
  headers.set('content-length', String(source.bytes.length));
  return new Response(source.bytes, { headers });
}

/**
 * The original image while its upscale goes on in the background (the edge's wait passed, or the
 * work is in flight elsewhere): `X-Oftsr-Cache: pending`, `Cache-Control: no-store`, so the next
 * view asks again and gets the upscaled image once it is stored. A 302 to the original under the
 * same rules as {@link serveFallback}.
 */
function servePending(source: SourceImage, config: EdgeConfig, onerror: OnErrorMode | undefined): Response {
  const headers = new Headers({ 'cache-control': 'no-store', [HEADERS.cache]: 'pending' });
  return serveOriginal(source, config, onerror, headers);
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
  const target = await storageKey(image, {
    key,
    modelVersion: m.config.modelVersion,
    params: m.params,
    source: identity,
    requestId: m.requestId,
  });
  key = target.key;
  const modelVersion = target.modelVersion;
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

/** One image request, resolved down to its cache key (shared by the image and prewarm routes). */
export interface ImageRequest {
  config: EdgeConfig;
  params: RequestParams;
  location: SourceLocation;
  /** The source's current record, and its bytes when resolving fetched them. */
  record: SourceRecord;
  source?: SourceImage;
  key: string;
  vary: boolean;
  onerror: OnErrorMode | undefined;
  /** The URL's `wait`, if given (validated). */
  wait: number | undefined;
}

/**
 * Params (signature mode, presets, the shared schema: 400), path, `Accept`, the source's current
 * version (record, or a conditional fetch after `SOURCE_TTL_S`) and the cache key.
 */
export async function resolveImageRequest(
  env: Bindings,
  url: URL,
  accept: string | null,
  signed: boolean,
  requestId: string,
): Promise<ImageRequest> {
  const config = readConfig(env);
  const requested = resolveParams(url.searchParams, signed, config);
  const onerror = parseOnError(url.searchParams);
  parseMetadata(url.searchParams); // 400 for metadata=keep: outputs carry none
  const wait = parseWait(url.searchParams);
  const location = locateSource(url.pathname, config, env);
  const keyFormat = negotiateFormat(requested.format, accept);
  const params: RequestParams = { ...requested, format: keyFormat };
  const { record, source } = await currentSource(env, config, location, requestId);
  const key = await cacheKey({
    params,
    source: identityOf(location, record.validator),
    modelVersion: config.modelVersion,
  });
  return {
    config,
    params,
    location,
    record,
    ...(source === undefined ? {} : { source }),
    key,
    vary: requested.format === 'auto',
    onerror,
    wait,
  };
}

/** The work message's request for a resolved image request. */
export function workRequestOf(
  r: ImageRequest,
  path: string,
  requestId: string,
): Parameters<typeof enqueueWork>[2] {
  return {
    key: r.key,
    path,
    params: canonicalizeParams(r.params),
    modelVersion: r.config.modelVersion,
    validator: r.record.validator,
    source: identityOf(r.location, r.record.validator),
    requestId,
  };
}

/**
 * `GET /<path>?sr=4&t=0.7`: the CDN image route. Order: signature (middleware, 403) → params
 * (shared schema, 400) → path → `Accept` → source version (record, or a conditional fetch after
 * `SOURCE_TTL_S`) → cache key → Cache API → R2 → runner call: coalesced in the isolate and, with a
 * `WORK_QUEUE`, claimed across isolates and bounded by the edge's wait (see {@link missWithDeadline}).
 */
export const image = new Hono<Env>().get('/*', async (c) => {
  const url = new URL(c.req.url);
  const ignored = ignoredParams(url.searchParams);
  const res = await serveImage(c, url);
  if (ignored.length > 0) res.headers.set(HEADERS.ignoredParams, ignored.join(','));
  return res;
});

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, Math.max(0, ms)));

/** Claims in progress in this isolate, so that its followers look only once the leader knows. */
const claiming = new Map<string, Promise<unknown>>();

/** How often a request that does not hold the work looks for its output in R2, ms. */
const POLL_MS = 200;

async function serveImage(c: Context<Env>, url: URL): Promise<Response> {
  const started = Date.now();
  const requestId = c.get('requestId');
  const r = await resolveImageRequest(c.env, url, c.req.header('accept') ?? null, c.get('signed'), requestId);
  const { config, params, location, source, key, vary, onerror } = r;
  const ctx = c.executionCtx;

  const cached = await readCached(c.env, ctx, key);
  if (cached !== undefined) return serveCached(c.req.raw, cached, key, vary);
  const refused = await readRefusal(key);
  if (refused !== undefined) return new Response(refused.body, refused);

  const miss: Miss = {
    request: c.req.raw,
    env: c.env,
    ctx,
    config,
    params,
    location,
    validator: r.record.validator,
    ...(source === undefined ? {} : { source }),
    key,
    vary,
    requestId,
    onerror,
  };
  if (c.env.WORK_QUEUE !== undefined) {
    // A wait as long as the runner's own budget is no deadline: the runner's timeout decides.
    const wait = r.wait ?? config.edgeWaitMs;
    const until = wait < config.runnerTimeoutMs ? started + wait : undefined;
    return missWithDeadline(miss, until, workRequestOf(r, url.pathname, requestId));
  }

  const joined = joinInflight(key);
  if ('wait' in joined) {
    // Bounded: a follower never waits longer than the leader's own runner budget (plus slack).
    const patience = new Promise<boolean>((r) => setTimeout(() => r(false), config.runnerTimeoutMs + 5_000));
    const stored = await Promise.race([joined.wait, patience]);
    const image = stored ? await readR2(c.env, key) : undefined;
    if (image !== undefined) return serveCached(c.req.raw, image, key, vary, 'hit');
    return followerFallback(miss);
  }
  try {
    return await produce(miss, (stored) => joined.lead.settle(stored));
  } catch (err) {
    joined.lead.settle(false);
    throw err;
  }
}

/**
 * The leader failed: serve the original rather than hitting a failing runner again (with the
 * leader's answer where the source alone decides it: animated, or a box past ×4).
 */
async function followerFallback(m: Miss): Promise<Response> {
  const original = m.source ?? (await fetchSourceBytes(m.location, m.config, m.env));
  if (isAnimated(original.bytes, original.format)) {
    return serveFallback(original, m.config, 'animated', m.onerror);
  }
  resolveOutputSize(m.params, original.width, original.height);
  return serveFallback(original, m.config, new OftsrError('upstream', 'coalesced leader failed'), m.onerror);
}

/**
 * A miss with the edge's deadline (`until`, ms since the epoch). The first request for the key, in
 * any isolate, claims it (R2 marker, work.ts) and calls the runner; an answer before the deadline
 * is served and stored as a plain miss. At the deadline the original is answered as `pending`, and
 * the runner call goes on in the background (`waitUntil`, bounded by `RUNNER_TIMEOUT_MS`): its
 * answer is stored under the same key and the marker dropped. A work message, delayed until that
 * call is over, is the safety net: the consumer calls the runner only if nothing was stored and
 * the edge's lease ran out (its call died, or the isolate went away). A request that does not hold
 * the claim makes no runner call: it looks for the output in R2 until its own deadline, then
 * answers `pending` too (or the fallback when the holder gave up without storing anything).
 */
async function missWithDeadline(
  m: Miss,
  until: number | undefined,
  work: Parameters<typeof enqueueWork>[2],
): Promise<Response> {
  const joined = joinInflight(m.key);
  if ('wait' in joined) {
    await claiming.get(m.key); // the isolate's leader has claimed (or not) before we look
    return awaitOther(m, until);
  }
  const claim = claimWork(m.env, m.key, m.config.runnerTimeoutMs + 30_000);
  claiming.set(
    m.key,
    claim.catch(() => false),
  );
  let claimed: boolean;
  try {
    claimed = await claim;
  } finally {
    claiming.delete(m.key);
  }
  if (!claimed) {
    joined.lead.settle(false);
    return awaitOther(m, until);
  }
  const done = await readR2(m.env, m.key); // stored between our cache lookup and the claim
  if (done !== undefined) {
    joined.lead.settle(true);
    m.ctx.waitUntil(releaseWork(m.env, m.key));
    return serveCached(m.request, done, m.key, m.vary, 'hit');
  }
  let handedOff = false;
  // The marker is dropped once the runner call is over (stored or not), after any hand-off has set
  // its lease: the consumer then finds the output, or no marker and does the work itself.
  let queued: Promise<unknown> = Promise.resolve();
  const settle = (stored: boolean): void => {
    joined.lead.settle(stored);
    m.ctx.waitUntil(
      queued.then(() => releaseWork(m.env, m.key)).catch((e: unknown) => console.warn('release', e)),
    );
  };
  let source: SourceImage;
  try {
    source = m.source ?? (await fetchSourceBytes(m.location, m.config, m.env));
    resolveOutputSize(m.params, source.width, source.height); // 400 for a box past ×4, before any work
  } catch (err) {
    settle(false);
    throw err;
  }
  // The original is answered at once; the message is sent (and the marker's lease set) in `waitUntil`.
  const handOff = (inFlightUntil?: number): Response => {
    handedOff = true;
    queued = enqueueWork(m.env, m.config, work, inFlightUntil).then(
      () => console.log(JSON.stringify({ event: 'work_queued', requestId: m.requestId, key: m.key })),
      (err: unknown) =>
        console.warn(
          JSON.stringify({ event: 'work_queue_failed', requestId: m.requestId, error: String(err) }),
        ),
    );
    m.ctx.waitUntil(queued);
    return servePending(source, m.config, m.onerror);
  };
  if (until !== undefined && Date.now() >= until) {
    // No time left (e.g. `wait=0`): straight to the queue, no runner call here.
    joined.lead.settle(false);
    if (isAnimated(source.bytes, source.format)) {
      m.ctx.waitUntil(releaseWork(m.env, m.key));
      return serveFallback(source, m.config, 'animated', m.onerror);
    }
    return handOff();
  }
  const callStarted = Date.now();
  const produced = produce({ ...m, source }, settle).catch((err: unknown) => {
    settle(false);
    if (handedOff) return 'late' as const;
    throw err;
  });
  let timer: ReturnType<typeof setTimeout> | null = null;
  const late = new Promise<'late'>((r) => {
    if (until !== undefined) timer = setTimeout(() => r('late'), Math.max(0, until - Date.now()));
  });
  const first = await Promise.race([produced, late]);
  clearTimeout(timer);
  produced.catch(() => {}); // a failure after the race is settled has no reader
  if (first !== 'late') return first;
  handedOff = true;
  // Nobody reads this call's answer now: it goes on to R2 (produce stores it; `settle` drops the
  // marker). The client's half of the tee is drained, so it never holds the stored half back.
  m.ctx.waitUntil(
    produced
      .then((res) => (res === 'late' ? undefined : res.body?.pipeTo(new WritableStream())))
      .catch(() => {}),
  );
  return handOff(backgroundUntil(m.config, callStarted));
}

/** Another request (here or elsewhere) holds the key's work: its output from R2 by `until`, else `pending`. */
async function awaitOther(m: Miss, deadline: number | undefined): Promise<Response> {
  // Without a deadline: no longer than the holder's own runner budget (plus slack).
  const until = deadline ?? Date.now() + m.config.runnerTimeoutMs + 5_000;
  for (;;) {
    const state = await workState(m.env, m.key);
    if (state.state === 'done') {
      const image = await readR2(m.env, m.key);
      if (image !== undefined) return serveCached(m.request, image, m.key, m.vary, 'hit');
    }
    if (state.state !== 'pending') return followerFallback(m);
    if (Date.now() >= until) break;
    await sleep(Math.min(POLL_MS, until - Date.now()));
  }
  const original = m.source ?? (await fetchSourceBytes(m.location, m.config, m.env));
  if (isAnimated(original.bytes, original.format))
    return serveFallback(original, m.config, 'animated', m.onerror);
  resolveOutputSize(m.params, original.width, original.height);
  return servePending(original, m.config, m.onerror);
}
