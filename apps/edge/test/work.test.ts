import { cacheKey, canonicalizeParams, OBJECT_METADATA, parseParamsFromQuery } from '@oftsr/shared';
import { createExecutionContext, createMessageBatch, getQueueResult } from 'cloudflare:test';
import { env } from 'cloudflare:workers';
import { afterEach, describe, expect, it, vi } from 'vitest';
import type { Bindings } from '../src/bindings.ts';
import { r2Key } from '../src/cache.ts';
import { queue, retryDelayS } from '../src/consumer.ts';
import { readConfig } from '../src/config.ts';
import { resolveImageRequest } from '../src/routes/image.ts';
import { claimWork, releaseWork, workState, type WorkMessage } from '../src/work.ts';
import { call, fakeOrigin, fakeRunner, fixture, mockFetch, MODEL_VERSION, uniquePath } from './helpers.ts';

const png = fixture('landscape-192x128.png');
const bindings = env as unknown as Bindings;

afterEach(() => {
  vi.restoreAllMocks();
});

const randomKey = () =>
  Array.from(crypto.getRandomValues(new Uint8Array(32)), (b) => b.toString(16).padStart(2, '0')).join('');

/** A work message for `path` (served by the fake origin) as the edge would produce it. */
async function messageFor(path: string, query = 'sr=4&format=png'): Promise<WorkMessage> {
  const params = parseParamsFromQuery(new URLSearchParams(query));
  const digest = await crypto.subtle.digest('SHA-256', png);
  const sha256 = Array.from(new Uint8Array(digest), (b) => b.toString(16).padStart(2, '0')).join('');
  const source = { kind: 'url' as const, url: `https://origin.test/images${path}`, sha256 };
  return {
    v: 1,
    key: await cacheKey({ params, source, modelVersion: MODEL_VERSION }),
    path,
    params: canonicalizeParams(params),
    modelVersion: MODEL_VERSION,
    validator: { sha256 },
    source,
    requestId: 'test',
    enqueuedAt: Date.now(),
  };
}

/** The cache key the image route computes for `path` (with no Accept header). */
async function keyOf(path: string): Promise<{ key: string }> {
  return resolveImageRequest(bindings, new URL(path, 'https://img.example.com'), null, false, 'test');
}

async function consume(body: unknown, attempts = 1, queueName = 'oftsr-work-dev') {
  const batch = createMessageBatch(queueName, [{ id: 'm1', timestamp: new Date(), attempts, body }]);
  const ctx = createExecutionContext();
  await queue(batch, bindings);
  return getQueueResult(batch, ctx);
}

describe('the pending marker (R2, cross-isolate)', () => {
  it('of many simultaneous claims exactly one wins; a released key can be claimed again', async () => {
    const key = randomKey();
    const claims = await Promise.all(Array.from({ length: 8 }, () => claimWork(bindings, key, 60_000)));
    expect(claims.filter(Boolean)).toHaveLength(1);
    expect((await workState(bindings, key)).state).toBe('pending');
    expect(await claimWork(bindings, key, 60_000)).toBe(false);
    await releaseWork(bindings, key);
    expect((await workState(bindings, key)).state).toBe('none');
    expect(await claimWork(bindings, key, 60_000)).toBe(true);
  });

  it('an expired lease (its holder died) is taken over, by one claimant only', async () => {
    const key = randomKey();
    expect(await claimWork(bindings, key, 1)).toBe(true);
    await new Promise((r) => setTimeout(r, 20));
    const claims = await Promise.all(Array.from({ length: 4 }, () => claimWork(bindings, key, 60_000)));
    expect(claims.filter(Boolean)).toHaveLength(1);
  });
});

describe('the queue consumer', () => {
  it('upscales, stores under the message key with the model version, drops the marker, acks', async () => {
    const calls = mockFetch({ 'origin.test': fakeOrigin({ 'cat.png': png }), 'runner.test': fakeRunner() });
    const m = await messageFor(uniquePath('cat.png'));
    await claimWork(bindings, m.key, 60_000, 'queue'); // as the prewarm route does
    const result = await consume(m);
    expect(result.explicitAcks).toEqual(['m1']);
    expect(result.retryMessages).toEqual([]);
    const stored = await env.CACHE_BUCKET.get(r2Key(m.key));
    expect(stored?.customMetadata?.[OBJECT_METADATA.modelVersion]).toBe(MODEL_VERSION);
    expect(await stored?.text()).toMatch(/^UPSCALED \?format=png/);
    expect((await workState(bindings, m.key)).state).toBe('done');
    expect(calls['runner.test']).toHaveLength(1);

    // Delivered again (at-least-once): acked without any fetch.
    const again = await consume(m);
    expect(again.explicitAcks).toEqual(['m1']);
    expect(calls['runner.test']).toHaveLength(1);
    expect(calls['origin.test']).toHaveLength(1);
  });

  it('a transient runner failure is retried with exponential backoff', async () => {
    vi.spyOn(console, 'log').mockImplementation(() => {});
    mockFetch({
      'origin.test': fakeOrigin({ 'cat.png': png }),
      'runner.test': fakeRunner({ status: 503, code: 'unavailable' }),
    });
    const m = await messageFor(uniquePath('cat.png'));
    expect((await consume(m, 1)).retryMessages).toEqual([{ msgId: 'm1' }]);
    // (getQueueResult does not report delaySeconds; the backoff itself:)
    const config = readConfig(bindings);
    expect([1, 2, 3].map((n) => retryDelayS(config, n))).toEqual(
      [2, 4, 8].map((x) => (x / 2) * config.workRetryBaseS),
    );
    expect(retryDelayS(config, 40)).toBe(43_200);
    expect(await env.CACHE_BUCKET.head(r2Key(m.key))).toBeNull();
    expect((await workState(bindings, m.key)).state).toBe('pending');
  });

  it('a runner answer cut short stores nothing and is retried', async () => {
    vi.spyOn(console, 'log').mockImplementation(() => {});
    mockFetch({
      'origin.test': fakeOrigin({ 'cat.png': png }),
      // Declares 1000 bytes, sends 10.
      'runner.test': () =>
        new Response(new Uint8Array(10), {
          headers: {
            'content-type': 'image/png',
            'content-length': '1000',
            'x-model-version': MODEL_VERSION,
          },
        }),
    });
    const m = await messageFor(uniquePath('cat.png'));
    const result = await consume(m);
    expect(result.retryMessages).toHaveLength(1);
    expect(result.explicitAcks).toEqual([]);
    expect(await env.CACHE_BUCKET.head(r2Key(m.key))).toBeNull();
  });

  it('a permanent refusal (422) is acked with a failure record, not retried', async () => {
    vi.spyOn(console, 'log').mockImplementation(() => {});
    mockFetch({
      'origin.test': fakeOrigin({ 'cat.png': png }),
      'runner.test': fakeRunner({ status: 422, code: 'too_large' }),
    });
    const m = await messageFor(uniquePath('cat.png'));
    const result = await consume(m);
    expect(result.explicitAcks).toEqual(['m1']);
    expect(result.retryMessages).toEqual([]);
    expect(await workState(bindings, m.key)).toMatchObject({ state: 'failed', reason: /^refused/ });
  });

  it('a malformed message is retried (so it ends in the dead-letter queue) without any fetch', async () => {
    vi.spyOn(console, 'log').mockImplementation(() => {});
    const calls = mockFetch({});
    for (const body of [null, 'text', { v: 2 }, { ...(await messageFor('/x.png')), key: 'nothex' }]) {
      const result = await consume(body);
      expect(result.retryMessages, JSON.stringify(body)).toHaveLength(1);
    }
    expect(calls).toEqual({});
  });

  it("the edge's live lease (its call in flight) is retried later without any fetch; an expired one is taken over", async () => {
    vi.spyOn(console, 'log').mockImplementation(() => {});
    const calls = mockFetch({ 'origin.test': fakeOrigin({ 'cat.png': png }), 'runner.test': fakeRunner() });
    const m = await messageFor(uniquePath('cat.png'));
    expect(await claimWork(bindings, m.key, 60_000, 'edge')).toBe(true);
    const waiting = await consume(m);
    expect(waiting.retryMessages).toEqual([{ msgId: 'm1' }]);
    expect(calls).toEqual({});
    // The edge's call died: its lease runs out, and the consumer does the work.
    await releaseWork(bindings, m.key);
    expect(await claimWork(bindings, m.key, 1, 'edge')).toBe(true);
    await new Promise((r) => setTimeout(r, 20));
    const taken = await consume(m, 2);
    expect(taken.explicitAcks).toEqual(['m1']);
    expect(calls['runner.test']).toHaveLength(1);
    expect((await workState(bindings, m.key)).state).toBe('done');
  });

  it('the dead-letter queue records the failure, drops the marker and acks', async () => {
    vi.spyOn(console, 'error').mockImplementation(() => {});
    const m = await messageFor(uniquePath('cat.png'));
    await claimWork(bindings, m.key, 60_000);
    const result = await consume(m, 4, 'oftsr-work-dev-dlq');
    expect(result.explicitAcks).toEqual(['m1']);
    expect(await workState(bindings, m.key)).toMatchObject({ state: 'failed', reason: /dead-letter/ });
    // A malformed dead letter is acked too (nothing to record it under).
    expect((await consume('garbage', 4, 'oftsr-work-dev-dlq')).explicitAcks).toEqual(['m1']);
  });
});

/** The JSON events the Worker logged (console.log spied), as objects. */
function loggedEvents(spy: { mock: { calls: unknown[][] } }): { event?: string; key?: string }[] {
  return spy.mock.calls.flatMap(([line]) => {
    try {
      return [JSON.parse(String(line)) as { event?: string; key?: string }];
    } catch {
      return [];
    }
  });
}

async function waitFor(check: () => Promise<boolean> | boolean, timeoutMs = 15_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!(await check()) && Date.now() < end) await new Promise((r) => setTimeout(r, 100));
}

describe('the edge deadline', () => {
  // A short runner budget, so that the work message (delayed until the edge's own call is over:
  // RUNNER_TIMEOUT_MS + BACKGROUND_SLACK_MS after it started) arrives within the test.
  const deadline = { EDGE_WAIT_MS: '150', RUNNER_TIMEOUT_MS: '1500' };

  it('a miss past EDGE_WAIT_MS answers the original, no-store, pending; its own call stores it, one runner call', async () => {
    const logs = vi.spyOn(console, 'log').mockImplementation(() => {});
    const calls = mockFetch({
      'origin.test': fakeOrigin({ 'cat.png': png }),
      'runner.test': fakeRunner({ delayMs: 600 }),
    });
    const path = `${uniquePath('cat.png')}?sr=4`;
    const started = Date.now();
    const res = await call(path, { env: deadline, wait: false });
    expect(res.status).toBe(200);
    expect(res.headers.get('x-oftsr-cache')).toBe('pending');
    expect(res.headers.get('cache-control')).toBe('no-store');
    expect(new Uint8Array(await res.arrayBuffer())).toEqual(png);
    expect(Date.now() - started).toBeLessThan(550);
    // The request's own runner call, gone on in the background, stores it under the same key.
    const { key } = await keyOf(path);
    await waitFor(async () => (await workState(bindings, key)).state === 'done');
    expect((await workState(bindings, key)).state).toBe('done');
    expect(Date.now() - started).toBeLessThan(1_500);
    const hit = await call(path);
    expect(hit.headers.get('x-oftsr-cache')).toBe('hit');
    expect(hit.headers.get('x-model-version')).toBe(MODEL_VERSION);
    // The delayed message (the safety net) finds it stored and is acked without a runner call.
    await waitFor(() => loggedEvents(logs).some((e) => e.event === 'work_done_already' && e.key === key));
    expect(loggedEvents(logs).map((e) => e.event)).toContain('work_done_already');
    expect(calls['runner.test']).toHaveLength(1);
  });

  it('two concurrent misses past the wait: both pending, one runner call in all', async () => {
    const logs = vi.spyOn(console, 'log').mockImplementation(() => {});
    const calls = mockFetch({
      'origin.test': fakeOrigin({ 'cat.png': png }),
      'runner.test': fakeRunner({ delayMs: 600 }),
    });
    const path = `${uniquePath('cat.png')}?sr=4`;
    const both = await Promise.all([call(path, { env: deadline }), call(path, { env: deadline })]);
    expect(both.map((r) => r.headers.get('x-oftsr-cache'))).toEqual(['pending', 'pending']);
    const { key } = await keyOf(path);
    await waitFor(() => loggedEvents(logs).some((e) => e.event === 'work_done_already' && e.key === key));
    expect((await workState(bindings, key)).state).toBe('done');
    expect(calls['runner.test']).toHaveLength(1);
  });

  it('a background call that dies stores nothing; the delayed message makes the consumer do it', async () => {
    vi.spyOn(console, 'log').mockImplementation(() => {});
    vi.spyOn(console, 'warn').mockImplementation(() => {});
    let key = '';
    const seen: (string | null)[] = [];
    let n = 0;
    const calls = mockFetch({
      'origin.test': fakeOrigin({ 'cat.png': png }),
      'runner.test': async (req, url) => {
        n += 1;
        seen.push(n === 1 ? null : ((await env.CACHE_BUCKET.head(r2Key(key)))?.key ?? 'none'));
        if (n > 1) return fakeRunner()(req, url);
        await new Promise((r) => setTimeout(r, 300));
        // Declares 1000 bytes, sends 10: the answer is cut off mid-job.
        return new Response(new Uint8Array(10), {
          headers: {
            'content-type': 'image/png',
            'content-length': '1000',
            'x-model-version': MODEL_VERSION,
          },
        });
      },
    });
    const path = `${uniquePath('cat.png')}?sr=4`;
    key = (await keyOf(path)).key;
    const res = await call(path, { env: deadline });
    expect(res.headers.get('x-oftsr-cache')).toBe('pending');
    expect(await env.CACHE_BUCKET.head(r2Key(key))).toBeNull();
    await waitFor(async () => (await workState(bindings, key)).state === 'done');
    expect((await workState(bindings, key)).state).toBe('done');
    expect(calls['runner.test']).toHaveLength(2);
    expect(seen).toEqual([null, 'none']); // no partial object when the consumer came
  });

  it('a miss within the wait is served as before; wait is validated and not part of the key', async () => {
    mockFetch({ 'origin.test': fakeOrigin({ 'cat.png': png }), 'runner.test': fakeRunner({ delayMs: 50 }) });
    const path = uniquePath('cat.png');
    const miss = await call(`${path}?sr=4&wait=5000`);
    expect(miss.headers.get('x-oftsr-cache')).toBe('miss');
    const hit = await call(`${path}?sr=4`);
    expect(hit.headers.get('x-oftsr-cache')).toBe('hit');
    expect(hit.headers.get('etag')).toBe(miss.headers.get('etag'));
    for (const bad of ['wait=-1', 'wait=1.5', 'wait=60001', 'wait=1&wait=2']) {
      const res = await call(`${path}?sr=4&${bad}`);
      expect(res.status, bad).toBe(400);
      expect(((await res.json()) as { error: { field: string } }).error.field).toBe('wait');
    }
  });

  it('wait=0 queues at once without a runner call from the request', async () => {
    vi.spyOn(console, 'log').mockImplementation(() => {});
    let requestDone = false;
    const calls = mockFetch({
      'origin.test': fakeOrigin({ 'cat.png': png }),
      'runner.test': (req, url) => {
        expect(requestDone).toBe(true); // only the consumer asks, after the answer
        return fakeRunner()(req, url);
      },
    });
    const path = `${uniquePath('cat.png')}?sr=4`;
    const res = await call(`${path}&wait=0`);
    requestDone = true;
    expect(res.headers.get('x-oftsr-cache')).toBe('pending');
    const { key } = await keyOf(path);
    for (let i = 0; i < 50 && (await workState(bindings, key)).state !== 'done'; i++) {
      await new Promise((r) => setTimeout(r, 100));
    }
    expect((await workState(bindings, key)).state).toBe('done');
    expect(calls['runner.test']).toHaveLength(1);
  });

  it('a request while the work is in flight elsewhere makes no runner call and answers pending', async () => {
    const calls = mockFetch({ 'origin.test': fakeOrigin({ 'cat.png': png }), 'runner.test': fakeRunner() });
    const path = `${uniquePath('cat.png')}?sr=4`;
    const { key } = await keyOf(path);
    expect(await claimWork(bindings, key, 60_000)).toBe(true); // another isolate holds it
    const res = await call(path, { env: { EDGE_WAIT_MS: '300' } });
    expect(res.headers.get('x-oftsr-cache')).toBe('pending');
    expect(calls['runner.test']).toBeUndefined();
    await releaseWork(bindings, key);
  });
});

describe('operator routes', () => {
  it('prewarm and work status need the operator token; bad bodies and keys are 400', async () => {
    const post = (body: string, token = 'op-token') =>
      call('/_oftsr/prewarm', {
        method: 'POST',
        headers: { authorization: `Bearer ${token}` },
        body,
        env: { PURGE_TOKEN: 'op-token' },
      });
    expect((await call('/_oftsr/prewarm', { method: 'POST', body: '{}' })).status).toBe(404);
    expect((await post('{"path":"/a.png"}', 'wrong')).status).toBe(401);
    expect((await post('not json')).status).toBe(400);
    expect((await post('{"path":"a.png"}')).status).toBe(400);
    expect((await post('{"path":"/a.png","extra":1}')).status).toBe(400);
    const status = (key: string) =>
      call(`/_oftsr/work?key=${key}`, {
        headers: { authorization: 'Bearer op-token' },
        env: { PURGE_TOKEN: 'op-token' },
      });
    expect((await status('zz')).status).toBe(400);
    expect(await (await status(randomKey())).json()).toMatchObject({ state: 'none' });
  });
});
