// Background upscales: the one message format of the work queue (WORK_QUEUE), the one function that
// produces a message (a miss past the edge's wait, and `POST /_oftsr/prewarm`, which `npm run
// prewarm` calls), and the R2 "pending" marker that keeps a key from being started twice while its
// work is in flight, across isolates and colos. The consumer is consumer.ts.
//
// The marker is an R2 object `pending/v1/<2 hex>/<key>` whose `until` metadata is a lease: it is
// created with a conditional put (`onlyIf: { etagDoesNotMatch: '*' }`, i.e. only if absent), so of
// two requests for one key exactly one wins; an expired lease (its holder died) is taken over with a
// compare-and-swap on the marker's etag. Whoever holds it removes it once the output is in R2, or
// when the work failed for good. Its `owner` metadata says who holds it: `edge` (a request's own
// runner call, which goes on in the background past the edge's wait) or `queue` (the consumer).

import { errorStatus, OftsrError, type SourceIdentity } from '@oftsr/shared';
import { z } from 'zod';
import type { Bindings } from './bindings.ts';
import { r2Key } from './cache.ts';
import type { EdgeConfig } from './config.ts';
import type { Validator } from './freshness.ts';
import { RunnerError } from './runner-client.ts';

const Hex64 = z.string().regex(/^[0-9a-f]{64}$/);

const ValidatorSchema = z.union([
  z.object({ etag: z.string().min(1) }).strict(),
  z.object({ lastModified: z.string().min(1), length: z.number().int().nonnegative() }).strict(),
  z.object({ sha256: Hex64 }).strict(),
]);

/**
 * One background upscale: the source (the request path the edge maps to its origin or
 * `SOURCE_BUCKET`, the version its key was made for, and its identity), the canonical params
 * (with the negotiated output format), the model version and the cache key the output goes to.
 */
export const WorkMessage = z
  .object({
    v: z.literal(1),
    key: Hex64,
    path: z.string().startsWith('/').max(1024),
    params: z.string().min(1).max(512),
    modelVersion: z.string().min(1).max(256),
    validator: ValidatorSchema,
    source: z.record(z.string(), z.union([z.string(), z.number()])),
    requestId: z.string().max(128),
    enqueuedAt: z.number().int().nonnegative(),
  })
  .strict();

/** A parsed {@link WorkMessage}. */
export type WorkMessage = z.output<typeof WorkMessage>;

/** What a background upscale needs to know (the message without its bookkeeping). */
export interface WorkRequest {
  key: string;
  path: string;
  params: string;
  modelVersion: string;
  validator: Validator;
  source: SourceIdentity;
  requestId: string;
}

/** Where a key's work stands: its output is in R2, it is in flight, it failed for good, or none of these. */
export type WorkState =
  | { state: 'done'; contentType: string }
  | { state: 'pending'; until: number }
  | { state: 'failed'; reason: string; at: number }
  | { state: 'none' };

function markerKey(key: string): string {
  return `pending/v1/${key.slice(0, 2)}/${key}`;
}

function failedKey(key: string): string {
  return `failed/v1/${key.slice(0, 2)}/${key}`;
}

/** How long the marker of work handed to the queue is held: one runner call plus a retry's delay. */
export function queuedLeaseMs(config: EdgeConfig, retryDelayS = config.workRetryBaseS): number {
  return config.runnerTimeoutMs + retryDelayS * 1000 + 60_000;
}

/**
 * Who holds a key's marker: `edge`, a request whose runner call is in flight (past the edge's wait
 * it goes on in the background), or `queue`, work handed to the queue's consumer.
 */
export type LeaseOwner = 'edge' | 'queue';

/** A key's marker: its lease (ms since the epoch) and its holder. */
export interface Lease {
  until: number;
  owner: LeaseOwner;
}

/**
 * How long after its start a request's runner call, gone on in the background, can still store its
 * output: the call is bounded by `RUNNER_TIMEOUT_MS` (its body too), plus this for the last R2 write.
 */
export const BACKGROUND_SLACK_MS = 2_000;

/** When a runner call started at `startedMs` is over, stored or not (the edge's lease for it). */
export function backgroundUntil(config: EdgeConfig, startedMs: number): number {
  return startedMs + config.runnerTimeoutMs + BACKGROUND_SLACK_MS;
}

/** The longest delay Queues accept on a message or a retry, s (12 h). */
export const MAX_DELAY_S = 43_200;

function leaseOptions(untilMs: number, owner: LeaseOwner): R2PutOptions {
  return { customMetadata: { until: String(untilMs), owner } };
}

/** The marker of `key`, live or expired; undefined when there is none. A marker without an owner is the queue's. */
export async function readLease(env: Bindings, key: string): Promise<Lease | undefined> {
  const marker = await env.CACHE_BUCKET.head(markerKey(key));
  if (marker === null) return undefined;
  const meta = marker.customMetadata ?? {};
  return { until: Number(meta.until ?? 0), owner: meta.owner === 'edge' ? 'edge' : 'queue' };
}

/**
 * Claims the work of `key` for `leaseMs`: true for exactly one caller while no live lease exists
 * (a conditional create; an expired lease is taken over by compare-and-swap), false otherwise.
 */
export async function claimWork(
  env: Bindings,
  key: string,
  leaseMs: number,
  owner: LeaseOwner = 'edge',
): Promise<boolean> {
  const name = markerKey(key);
  for (let attempt = 0; attempt < 2; attempt++) {
    const until = Date.now() + leaseMs;
    // A unique body per write: the etag is the body's MD5, and the takeover below compares etags.
    const created = await env.CACHE_BUCKET.put(name, crypto.randomUUID(), {
      ...leaseOptions(until, owner),
      onlyIf: { etagDoesNotMatch: '*' },
    });
    if (created !== null) return true;
    const held = await env.CACHE_BUCKET.head(name);
    if (held === null) continue; // released in between: try to create it again
    if (Number(held.customMetadata?.until ?? 0) > Date.now()) return false;
    const taken = await env.CACHE_BUCKET.put(name, crypto.randomUUID(), {
      ...leaseOptions(until, owner),
      onlyIf: { etagMatches: held.etag },
    });
    return taken !== null;
  }
  return false;
}

/** Sets the lease of work this caller holds (the queue's consumer between attempts, by default). */
export async function extendWork(
  env: Bindings,
  key: string,
  leaseMs: number,
  owner: LeaseOwner = 'queue',
): Promise<void> {
  await env.CACHE_BUCKET.put(markerKey(key), crypto.randomUUID(), leaseOptions(Date.now() + leaseMs, owner));
}

/** Drops the marker: the output is stored, or the work is over without one. */
export async function releaseWork(env: Bindings, key: string): Promise<void> {
  await env.CACHE_BUCKET.delete(markerKey(key));
}

/** Records why the work of `key` failed for good (read by `GET /_oftsr/work`); the marker is dropped. */
export async function recordFailure(env: Bindings, key: string, reason: string): Promise<void> {
  await env.CACHE_BUCKET.put(failedKey(key), JSON.stringify({ reason, at: Date.now() }), {
    httpMetadata: { contentType: 'application/json' },
  });
  await releaseWork(env, key);
}

/** Where the work of `key` stands (the output first: once it is stored, the key is done). */
export async function workState(env: Bindings, key: string): Promise<WorkState> {
  const output = await env.CACHE_BUCKET.head(r2Key(key));
  if (output !== null) return { state: 'done', contentType: output.httpMetadata?.contentType ?? '' };
  const marker = await env.CACHE_BUCKET.head(markerKey(key));
  const until = Number(marker?.customMetadata?.until ?? 0);
  if (marker !== null && until > Date.now()) return { state: 'pending', until };
  const failed = await env.CACHE_BUCKET.get(failedKey(key));
  if (failed !== null) {
    const record = (await failed.json().catch(() => ({}))) as { reason?: unknown; at?: unknown };
    return {
      state: 'failed',
      reason: typeof record.reason === 'string' ? record.reason : 'unknown',
      at: typeof record.at === 'number' ? record.at : 0,
    };
  }
  return { state: 'none' };
}

/**
 * Hands one upscale to the work queue (the only producer of {@link WorkMessage}s). The caller has
 * claimed the key. Without `inFlightUntil` the marker is then held for the queue
 * ({@link queuedLeaseMs}). With it, the caller's own runner call goes on in the background until
 * then ({@link backgroundUntil}): the marker stays the edge's until that time, and the message is
 * a safety net delivered only then (`delaySeconds`), which the consumer acks once the output is
 * stored (see consumer.ts).
 *
 * @throws {OftsrError} 503 `unavailable` when no `WORK_QUEUE` is bound or the send fails (the marker is dropped).
 */
export async function enqueueWork(
  env: Bindings,
  config: EdgeConfig,
  work: WorkRequest,
  inFlightUntil?: number,
): Promise<void> {
  const queue = env.WORK_QUEUE;
  if (queue === undefined) {
    await releaseWork(env, work.key);
    throw new OftsrError('unavailable', 'background work is off (no WORK_QUEUE binding)');
  }
  const message: WorkMessage = {
    v: 1,
    ...work,
    source: { ...work.source },
    enqueuedAt: Date.now(),
  };
  let delaySeconds = 0;
  if (inFlightUntil !== undefined) {
    const leftMs = Math.max(0, inFlightUntil - Date.now());
    await extendWork(env, work.key, leftMs, 'edge');
    delaySeconds = Math.min(MAX_DELAY_S, Math.ceil(leftMs / 1000));
  }
  try {
    await queue.send(WorkMessage.parse(message), { contentType: 'json', delaySeconds });
  } catch (cause) {
    if (inFlightUntil === undefined) await releaseWork(env, work.key).catch(() => {});
    throw new OftsrError('unavailable', 'the work queue refused the message', { cause });
  }
  if (inFlightUntil === undefined) await extendWork(env, work.key, queuedLeaseMs(config));
}

/**
 * Whether a failed upscale cannot succeed on a retry: the runner refused the image for good
 * (415/422), or the source or params are wrong for it (a 4xx other than 408/429, e.g. a 404 source,
 * a box past ×4). Timeouts, overload, unreachable runners and origins, 5xx: retried.
 */
export function isPermanent(err: unknown): boolean {
  if (err instanceof RunnerError) return err.permanent;
  if (!(err instanceof OftsrError)) return false;
  const status = errorStatus(err);
  return status >= 400 && status < 500 && status !== 408 && status !== 429;
}
