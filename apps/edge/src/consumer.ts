// The work queue's consumer (this Worker's `queue` handler; wrangler.toml binds it to WORK_QUEUE
// and to its dead-letter queue `<queue>-dlq`). One message is one upscale, written to R2 under the
// key the edge computed, exactly as a miss would have written it (writeCached: a known length goes
// through a FixedLengthStream, so a truncated answer or a crash mid-write stores nothing).
//
// Per message: already in R2 → ack (idempotent). The key's marker held by the edge with a live
// lease (the request's own runner call goes on in the background past the edge's wait; the message
// is its safety net) → `retry` once the lease runs out, without calling the runner. Else (no
// marker, the queue's own, or the edge's expired: its call died) fetch the source, call the runner,
// store, drop the marker, ack. A transient failure (origin or runner down, overloaded, timeout, R2) →
// `retry` with exponential backoff from WORK_RETRY_BASE_S; after the queue's max_retries the
// platform moves the message to the dead-letter queue. A malformed body is retried the same way
// (cheap: nothing is fetched), so it too ends in the dead-letter queue. A permanent refusal (the
// runner's 415/422, a 404 source, a box past ×4, an animated source, a source replaced since the key
// was made) is acked with a logged refusal and a failure record: retrying cannot change it.
// The dead-letter consumer records each message as failed, drops its marker and acks.

import {
  OftsrError,
  parseParamsFromQuery,
  resolveOutputSize,
  toErrorBody,
  type SourceIdentity,
} from '@oftsr/shared';
import type { Bindings } from './bindings.ts';
import { r2Key, writeCached } from './cache.ts';
import { readConfig, type EdgeConfig } from './config.ts';
import { sameValidator } from './freshness.ts';
import { outputFormat } from './format.ts';
import { isAnimated } from './image-size.ts';
import { callRunner, storageKey } from './runner-client.ts';
import { fetchSourceBytes, locateSource } from './source.ts';
import {
  extendWork,
  isPermanent,
  MAX_DELAY_S,
  queuedLeaseMs,
  readLease,
  recordFailure,
  releaseWork,
  WorkMessage,
} from './work.ts';

/** Dead-letter queues are named after their queue: `<queue>-dlq` (wrangler.toml). */
export const DEAD_LETTER_SUFFIX = '-dlq';

/** The delay before retry number `attempts` (1-based): base × 2^(attempts−1), at most 12 h (the Queues limit). */
export function retryDelayS(config: EdgeConfig, attempts: number): number {
  return Math.min(config.workRetryBaseS * 2 ** Math.max(0, attempts - 1), MAX_DELAY_S);
}

function log(event: string, fields: Record<string, unknown>): void {
  console.log(JSON.stringify({ event, ...fields }));
}

/** What one message asked for: upscale and store. Resolves with the key it stored. */
async function runWork(env: Bindings, config: EdgeConfig, m: WorkMessage): Promise<string> {
  const location = locateSource(m.path, config, env);
  const params = parseParamsFromQuery(new URLSearchParams(m.params));
  const source = await fetchSourceBytes(location, config, env);
  if (!sameValidator(source.validator, m.validator)) {
    // Replaced since the key was made: these bytes belong to another key, which a view will ask for.
    throw new OftsrError('not_found', 'the source was replaced since this key was made', {
      status: 409,
    });
  }
  if (isAnimated(source.bytes, source.format)) {
    throw new OftsrError('unsupported_format', 'animated sources are served as they are, not upscaled', {
      status: 415,
    });
  }
  const size = resolveOutputSize(params, source.width, source.height);
  const format = outputFormat(
    params.format,
    source.format,
    size.width * size.height,
    config.avifMaxOutputPixels,
  );
  const image = await callRunner(env, config, source, params, format, m.requestId);
  const { key, modelVersion } = await storageKey(image, {
    key: m.key,
    modelVersion: m.modelVersion,
    params,
    source: m.source as SourceIdentity,
    requestId: m.requestId,
  });
  await writeCached(env, key, image.body, image.length, { contentType: image.contentType, modelVersion });
  return key;
}

async function handleWork(env: Bindings, config: EdgeConfig, msg: Message<unknown>): Promise<void> {
  const parsed = WorkMessage.safeParse(msg.body);
  if (!parsed.success) {
    // Retried like a transient failure (nothing is fetched), so it lands in the dead-letter queue.
    log('work_malformed', { id: msg.id, attempts: msg.attempts, issue: parsed.error.issues[0]?.message });
    msg.retry({ delaySeconds: retryDelayS(config, msg.attempts) });
    return;
  }
  const m = parsed.data;
  const fields = { id: msg.id, key: m.key, requestId: m.requestId, attempts: msg.attempts };
  if ((await env.CACHE_BUCKET.head(r2Key(m.key))) !== null) {
    await releaseWork(env, m.key);
    log('work_done_already', fields);
    msg.ack();
    return;
  }
  const lease = await readLease(env, m.key);
  const leftMs = lease === undefined ? 0 : lease.until - Date.now();
  if (lease?.owner === 'edge' && leftMs > 0) {
    // The edge's own call is still in flight: look again once its lease is over.
    const delaySeconds = Math.min(MAX_DELAY_S, Math.ceil(leftMs / 1000));
    log('work_in_flight', { ...fields, delaySeconds });
    msg.retry({ delaySeconds });
    return;
  }
  try {
    await extendWork(env, m.key, queuedLeaseMs(config, 0));
    const stored = await runWork(env, config, m);
    await releaseWork(env, m.key);
    log('work_stored', { ...fields, stored, ms: Date.now() - m.enqueuedAt });
    msg.ack();
  } catch (err) {
    const error = err instanceof OftsrError ? toErrorBody(err).error : { message: String(err) };
    if (isPermanent(err)) {
      log('work_refused', { ...fields, error });
      await recordFailure(env, m.key, `refused: ${error.message}`).catch(() => {});
      msg.ack();
      return;
    }
    const delaySeconds = retryDelayS(config, msg.attempts);
    log('work_retry', { ...fields, delaySeconds, error });
    await extendWork(env, m.key, queuedLeaseMs(config, delaySeconds)).catch(() => {});
    msg.retry({ delaySeconds });
  }
}

async function handleDeadLetter(env: Bindings, msg: Message<unknown>): Promise<void> {
  const parsed = WorkMessage.safeParse(msg.body);
  const key = parsed.success ? parsed.data.key : undefined;
  console.error(JSON.stringify({ event: 'work_dead_letter', id: msg.id, key, attempts: msg.attempts }));
  if (key !== undefined) await recordFailure(env, key, 'retries exhausted (dead-letter queue)');
  msg.ack();
}

/** The Worker's `queue` handler: work messages one by one; dead letters recorded. */
export async function queue(batch: MessageBatch<unknown>, env: Bindings): Promise<void> {
  const dead = batch.queue.endsWith(DEAD_LETTER_SUFFIX);
  const config = readConfig(env);
  for (const msg of batch.messages) {
    if (dead) await handleDeadLetter(env, msg);
    else await handleWork(env, config, msg);
  }
}
