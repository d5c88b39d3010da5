import { OftsrError } from '@oftsr/shared';
import { Hono } from 'hono';
import { z } from 'zod';
import type { Bindings } from '../bindings.ts';
import { requireOperator } from '../middleware/operator.ts';
import type { RequestIdVariables } from '../middleware/request-id.ts';
import { r2Key } from '../cache.ts';
import { claimWork, enqueueWork, workState } from '../work.ts';
import { resolveImageRequest, workRequestOf } from './image.ts';

/** `POST /_oftsr/prewarm`: queue the upscale of one image URL (what `npm run prewarm` calls). */
export const PREWARM_PATH = '/_oftsr/prewarm';

/** `GET /_oftsr/work?key=…`: where the work of one cache key stands. */
export const WORK_PATH = '/_oftsr/work';

/** One URL to warm, as a page would request it. */
export const PrewarmBody = z
  .object({
    /** The image path (`/photos/cat.jpg`). */
    path: z.string().startsWith('/').max(1024),
    /** The query, as a page would write it (`sr=4&t=0.7`, `preset=hq`). */
    query: z.string().max(2048).default(''),
    /** The `Accept` a visitor sends (decides the negotiated format, so the key). */
    accept: z.string().max(1024).default('*/*'),
  })
  .strict();

function badBody(message: string): OftsrError {
  return new OftsrError('bad_param', message, { field: 'body' });
}

/**
 * The operator's work routes, behind `Authorization: Bearer PURGE_TOKEN` (off without it).
 *
 * `POST /_oftsr/prewarm` with `{"path":"/cat.jpg","query":"sr=4","accept":"image/webp,*\/*"}`
 * resolves the key exactly as `GET /cat.jpg?sr=4` with that `Accept` would (same params, presets,
 * negotiation, source version) and answers `{"state":"hit"|"queued"|"pending","key"}` (a hit with its `contentType`): already in
 * R2, a work message produced now, or already in flight. The URL is treated as signed (the caller
 * holds the operator token). `GET /_oftsr/work?key=KEY` answers `{"state":"done"|"pending"|"failed"|"none"}`
 * (`done` with its `contentType`, `failed` with its `reason`).
 */
export const work = new Hono<{ Bindings: Bindings; Variables: RequestIdVariables }>()
  .post(PREWARM_PATH, async (c) => {
    await requireOperator(c.env, c.req.header('authorization'), 'prewarm');
    const json: unknown = await c.req.json().catch(() => {
      throw badBody('the body must be JSON: {"path":"/cat.jpg","query":"sr=4","accept":"…"}');
    });
    const parsed = PrewarmBody.safeParse(json);
    if (!parsed.success) throw badBody(`bad prewarm body: ${parsed.error.issues[0]?.message ?? 'invalid'}`);
    const { path, query, accept } = parsed.data;
    const url = new URL(`https://prewarm.invalid${path}`);
    url.search = query;
    const requestId = c.get('requestId');
    const r = await resolveImageRequest(c.env, url, accept, true, requestId);
    const noStore = { 'cache-control': 'no-store' };
    const stored = await c.env.CACHE_BUCKET.head(r2Key(r.key));
    if (stored !== null) {
      const contentType = stored.httpMetadata?.contentType ?? '';
      return c.json({ state: 'hit', key: r.key, contentType }, 200, noStore);
    }
    if (!(await claimWork(c.env, r.key, r.config.runnerTimeoutMs + 30_000, 'queue'))) {
      return c.json({ state: 'pending', key: r.key }, 202, noStore);
    }
    await enqueueWork(c.env, r.config, workRequestOf(r, url.pathname, requestId));
    return c.json({ state: 'queued', key: r.key }, 202, noStore);
  })
  .get(WORK_PATH, async (c) => {
    await requireOperator(c.env, c.req.header('authorization'), 'work status');
    const key = c.req.query('key') ?? '';
    if (!/^[0-9a-f]{64}$/.test(key)) {
      throw new OftsrError('bad_param', 'give the cache key as ?key=<64 hex digits>', { field: 'key' });
    }
    return c.json({ key, ...(await workState(c.env, key)) }, 200, { 'cache-control': 'no-store' });
  });
