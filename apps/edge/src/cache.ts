// The output cache: the Cache API (per data centre, fast) in front of R2 (global, durable), both
// keyed by the shared cache key. R2 holds every output; the Cache API is filled from R2 hits.

import { HEADERS, OBJECT_METADATA, decodeMetadataValue, encodeMetadataValue } from '@oftsr/shared';
import type { Bindings } from './bindings.ts';

/** Cache-Control of every cached output: the key names the exact bytes, so they never change. */
export const IMMUTABLE = 'public, max-age=31536000, immutable';

/**
 * The model version an R2 object was made with, whether the edge (R2 binding) or a job (S3 API)
 * wrote it. Objects stored before the key was shared carry it as `modelVersion`.
 */
function storedModelVersion(object: Pick<R2Object, 'customMetadata'>): string {
  const meta = object.customMetadata ?? {};
  const value = meta[OBJECT_METADATA.modelVersion] ?? meta['modelVersion'] ?? '';
  return decodeMetadataValue(value);
}

/** A cached output, from either tier. */
export interface CachedImage {
  body: ReadableStream<Uint8Array>;
  contentType: string;
  modelVersion: string;
  size?: number;
  tier: 'cache-api' | 'r2';
}

/** Metadata stored with each output. */
export interface OutputMeta {
  contentType: string;
  modelVersion: string;
}

/** The R2 object key of a cache key (a prefix spreads keys and leaves room for a v2 layout). */
export function r2Key(key: string): string {
  return `out/v1/${key.slice(0, 2)}/${key}`;
}

function cacheApiRequest(key: string): Request {
  return new Request(`https://oftsr-edge.cache/${key}`);
}

function refusalRequest(key: string): Request {
  return new Request(`https://oftsr-edge.cache/refused/${key}`);
}

/**
 * The answer remembered for a key the runner refused for good (a format it does not take, a limit
 * the image is over), or undefined. Kept in the Cache API under its own `max-age`, so the refusal
 * costs neither the origin nor the runner again until it expires.
 */
export async function readRefusal(key: string): Promise<Response | undefined> {
  return (await caches.default.match(refusalRequest(key))) ?? undefined;
}

/** Remembers a refusal answer (its `Cache-Control: max-age` sets how long). */
export async function writeRefusal(key: string, answer: Response): Promise<void> {
  await caches.default.put(refusalRequest(key), answer);
}

/**
 * Looks a key up in the Cache API, then R2. An R2 hit is copied into the Cache API with
 * `ctx.waitUntil` (the body is teed, so the client is not held up).
 */
export async function readCached(
  env: Bindings,
  ctx: Pick<ExecutionContext, 'waitUntil'>,
  key: string,
): Promise<CachedImage | undefined> {
  const edge = await caches.default.match(cacheApiRequest(key));
  if (edge !== undefined && edge.body !== null) {
    const length = edge.headers.get('content-length');
    return {
      body: edge.body,
      contentType: edge.headers.get('content-type') ?? 'application/octet-stream',
      modelVersion: edge.headers.get(HEADERS.modelVersion) ?? '',
      ...(length === null ? {} : { size: Number(length) }),
      tier: 'cache-api',
    };
  }
  const object = await env.CACHE_BUCKET.get(r2Key(key));
  if (object === null) return undefined;
  const contentType = object.httpMetadata?.contentType ?? 'application/octet-stream';
  const modelVersion = storedModelVersion(object);
  const [toClient, toCache] = object.body.tee();
  const copy = new Response(toCache, {
    headers: {
      'content-type': contentType,
      'content-length': String(object.size),
      'cache-control': IMMUTABLE,
      [HEADERS.modelVersion]: modelVersion,
    },
  });
  ctx.waitUntil(
    caches.default.put(cacheApiRequest(key), copy).catch((e: unknown) => console.warn('cache put', e)),
  );
  return { body: toClient, contentType, modelVersion, size: object.size, tier: 'r2' };
}

// A manual pipe: workerd's pipeTo() refuses some stream pairs (e.g. a tee branch into a
// FixedLengthStream: "Inter-TransformStream ReadableStream.pipeTo() is not implemented").
async function pump(from: ReadableStream<Uint8Array>, to: WritableStream<Uint8Array>): Promise<void> {
  const reader = from.getReader();
  const writer = to.getWriter();
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      await writer.write(value);
    }
    await writer.close();
  } catch (err) {
    await writer.abort(err).catch(() => {});
    await reader.cancel(err).catch(() => {});
    throw err;
  }
}

/**
 * Stores an output in R2. With a known length the stream goes straight through a
 * `FixedLengthStream` (so a truncated body fails instead of being stored); otherwise it is buffered.
 */
export async function writeCached(
  env: Bindings,
  key: string,
  body: ReadableStream<Uint8Array>,
  length: number | undefined,
  meta: OutputMeta,
): Promise<void> {
  const options: R2PutOptions = {
    httpMetadata: { contentType: meta.contentType, cacheControl: IMMUTABLE },
    customMetadata: { [OBJECT_METADATA.modelVersion]: encodeMetadataValue(meta.modelVersion) },
  };
  if (length !== undefined) {
    const fixed = new FixedLengthStream(length);
    await Promise.all([
      env.CACHE_BUCKET.put(r2Key(key), fixed.readable, options),
      pump(body, fixed.writable),
    ]);
    return;
  }
  await env.CACHE_BUCKET.put(r2Key(key), await new Response(body).arrayBuffer(), options);
}

/** Reads an output straight from R2 (used by coalesced followers once the leader has stored it). */
export async function readR2(env: Bindings, key: string): Promise<CachedImage | undefined> {
  const object = await env.CACHE_BUCKET.get(r2Key(key));
  if (object === null) return undefined;
  return {
    body: object.body,
    contentType: object.httpMetadata?.contentType ?? 'application/octet-stream',
    modelVersion: storedModelVersion(object),
    size: object.size,
    tier: 'r2',
  };
}
