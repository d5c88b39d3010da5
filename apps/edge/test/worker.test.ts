import { ErrorBody, OBJECT_METADATA } from '@oftsr/shared';
import { env, exports } from 'cloudflare:workers';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { r2Key } from '../src/cache.ts';
import { call, fakeOrigin, fakeRunner, fixture, mockFetch, MODEL_VERSION, uniquePath } from './helpers.ts';

const png = fixture('landscape-192x128.png');

afterEach(() => {
  vi.restoreAllMocks();
});

async function errorOf(res: Response): Promise<ErrorBody> {
  return ErrorBody.parse(await res.json());
}

describe('routes', () => {
  it('GET /healthz answers ok and the model version', async () => {
    const res = await call('/healthz');
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ ok: true, modelVersion: MODEL_VERSION });
    expect(res.headers.get('x-request-id')).toMatch(/^[0-9a-f-]{36}$/);
  });

  it('refuses other methods with 405 and Allow', async () => {
    for (const method of ['POST', 'PUT', 'DELETE', 'PATCH']) {
      const res = await call('/cat.png', { method });
      expect(res.status).toBe(405);
      expect(res.headers.get('allow')).toBe('GET, HEAD');
      expect((await errorOf(res)).error.field).toBe('method');
    }
  });

  it('a bad parameter is 400 with a JSON body naming the field', async () => {
    mockFetch({});
    for (const [query, field] of [
      ['t=2', 't'],
      ['sr=3', 'sr'],
      ['q=0', 'q'],
      ['format=gif', 'format'],
      ['seed=-1', 'seed'],
      ['t=0.5&t=0.6', 't'],
      ['preset=nope', 'preset'],
      ['preset=hq&t=0.1', 'preset'],
    ] as const) {
      const res = await call(`/cat.png?${query}`);
      expect(res.status, query).toBe(400);
      const body = await errorOf(res);
      expect(body.error.code).toBe('bad_param');
      expect(body.error.field).toBe(field);
      expect(res.headers.get('cache-control')).toBe('no-store');
    }
  });

  it('the root path names no image: 400 on field path', async () => {
    const res = await call('/');
    expect(res.status).toBe(400);
    expect((await errorOf(res)).error.field).toBe('path');
  });

  it('keeps a well-formed X-Request-Id and forwards it to the runner', async () => {
    const calls = mockFetch({ 'origin.test': fakeOrigin({ 'a.png': png }), 'runner.test': fakeRunner() });
    const res = await call(`${uniquePath('a.png')}?sr=4`, { headers: { 'x-request-id': 'req-123' } });
    expect(res.headers.get('x-request-id')).toBe('req-123');
    expect(calls['runner.test']?.[0]?.headers.get('x-request-id')).toBe('req-123');
  });
});

describe('miss, then hit', () => {
  it('a miss calls the runner, streams its bytes and stores them; the hit makes no runner call', async () => {
    const calls = mockFetch({ 'origin.test': fakeOrigin({ 'cat.png': png }), 'runner.test': fakeRunner() });
    const path = `${uniquePath('cat.png')}?sr=4&t=0.7`;

    const miss = await call(path);
    expect(miss.status).toBe(200);
    expect(miss.headers.get('x-oftsr-cache')).toBe('miss');
    expect(miss.headers.get('cache-control')).toBe('public, max-age=31536000, immutable');
    expect(miss.headers.get('x-model-version')).toBe(MODEL_VERSION);
    expect(miss.headers.get('x-execution-provider')).toBe('cpu');
    expect(miss.headers.get('etag')).toMatch(/^"[0-9a-f]{64}"$/);
    expect(miss.headers.get('content-type')).toBe('image/png');
    const missBytes = new Uint8Array(await miss.arrayBuffer());
    expect(calls['runner.test']).toHaveLength(1);

    const runnerCall = calls['runner.test']?.[0];
    expect(runnerCall?.method).toBe('POST');
    expect(runnerCall?.url.pathname).toBe('/v1/upscale');
    expect(runnerCall?.url.search).toBe('?format=png&q=85&seed=0&sr=4&t=0.7');
    expect(runnerCall?.headers.get('authorization')).toBe('Bearer test-runner-token');
    expect(runnerCall?.body).toEqual(png);

    const etag = miss.headers.get('etag') ?? '';
    const stored = await env.CACHE_BUCKET.get(r2Key(etag.slice(1, -1)));
    expect(stored?.customMetadata?.[OBJECT_METADATA.modelVersion]).toBe(MODEL_VERSION);
    expect(new Uint8Array(await stored!.arrayBuffer())).toEqual(missBytes);

    const hit = await call(path);
    expect(hit.status).toBe(200);
    expect(hit.headers.get('x-oftsr-cache')).toBe('hit');
    expect(hit.headers.get('x-oftsr-cache-tier')).toBe('r2');
    expect(hit.headers.get('etag')).toBe(etag);
    expect(new Uint8Array(await hit.arrayBuffer())).toEqual(missBytes);

    const again = await call(path);
    expect(again.headers.get('x-oftsr-cache')).toBe('hit');
    expect(again.headers.get('x-oftsr-cache-tier')).toBe('cache-api');
    expect(new Uint8Array(await again.arrayBuffer())).toEqual(missBytes);

    expect(calls['runner.test']).toHaveLength(1); // hits never call the runner
    expect(calls['origin.test']).toHaveLength(1); // nor the origin

    const revalidate = await call(path, { headers: { 'if-none-match': etag } });
    expect(revalidate.status).toBe(304);
    const any = await call(path, { headers: { 'if-none-match': '*' } });
    expect(any.status).toBe(304);
    expect(any.headers.get('etag')).toBe(etag);
  });

  it('equivalent spellings share one key (t rounds to 0.05, order and extra keys do not matter)', async () => {
    const calls = mockFetch({ 'origin.test': fakeOrigin({ 'cat.png': png }), 'runner.test': fakeRunner() });
    const base = uniquePath('cat.png');
    const first = await call(`${base}?sr=4&t=0.7`);
    const second = await call(`${base}?t=.71&utm_source=x&sr=4`);
    expect(second.headers.get('x-oftsr-cache')).toBe('hit');
    expect(second.headers.get('etag')).toBe(first.headers.get('etag'));
    expect(calls['runner.test']).toHaveLength(1);
  });

  it.each([
    ['off', '?sr=4&t=0.7', {}],
    ['presets (unsigned ?preset=)', '?preset=hq', { SIGNING_MODE: 'presets', SIGNING_KEYS: 'k'.repeat(32) }],
  ] as const)(
    'six spellings of one path give one key and one runner call (signing %s)',
    async (_mode, query, overrides) => {
      const calls = mockFetch({
        'origin.test': fakeOrigin({ 'landscape-192x128.png': png }),
        'runner.test': fakeRunner(),
      });
      const id = crypto.randomUUID();
      const spellings = [
        `/${id}/%6candscape-192x128.png`,
        `/${id}/%6Candscape-192x128.png`,
        `/${id}/l%61ndscape-192x128.png`,
        `/${id}/landscape%2D192x128.png`,
        `/${id}//landscape-192x128.png`,
        `//${id}///landscape-192x128.png`,
      ];
      const etags = new Set<string | null>();
      for (const spelling of spellings) {
        const res = await call(`https://img.example.com${spelling}${query}`, { env: overrides });
        expect(res.status, spelling).toBe(200);
        etags.add(res.headers.get('etag'));
      }
      expect(etags.size).toBe(1);
      expect(calls['runner.test']).toHaveLength(1);
      expect(calls['origin.test']?.map((c) => c.url.pathname)).toEqual([
        `/images/${id}/landscape-192x128.png`,
      ]);
    },
  );

  it('HEAD answers headers without a body', async () => {
    mockFetch({ 'origin.test': fakeOrigin({ 'cat.png': png }), 'runner.test': fakeRunner() });
    const path = `${uniquePath('cat.png')}?sr=2`;
    await call(path);
    const head = await call(path, { method: 'HEAD' });
    expect(head.status).toBe(200);
    expect(head.headers.get('x-oftsr-cache')).toBe('hit');
    expect(head.body).toBeNull();
  });

  it('reads sources from the R2 source bucket before the origin', async () => {
    const calls = mockFetch({ 'runner.test': fakeRunner() });
    const name = `${crypto.randomUUID()}/r2-cat.png`;
    await env.SOURCE_BUCKET.put(name, png);
    const res = await call(`/${name}?sr=4`);
    expect(res.status).toBe(200);
    expect(res.headers.get('x-oftsr-cache')).toBe('miss');
    expect(calls['origin.test']).toBeUndefined();
    expect(calls['runner.test']?.[0]?.body).toEqual(png);
  });

  it('an unknown source is 404 (origin 404, nothing in R2)', async () => {
    const calls = mockFetch({ 'origin.test': fakeOrigin({}), 'runner.test': fakeRunner() });
    const res = await call(`${uniquePath('missing.png')}?sr=4`);
    expect(res.status).toBe(404);
    expect((await errorOf(res)).error.code).toBe('not_found');
    expect(calls['runner.test']).toBeUndefined();
  });

  it('an object a job wrote through the S3 API is a hit with its model version', async () => {
    mockFetch({ 'origin.test': fakeOrigin({ 'cat.png': png }), 'runner.test': fakeRunner() });
    const path = `${uniquePath('cat.png')}?sr=4`;
    const key = ((await call(path)).headers.get('etag') ?? '').slice(1, -1);
    // What R2 holds after `PutObject` with `x-amz-meta-oftsr-model-version` (see the runner's jobs).
    await env.CACHE_BUCKET.put(r2Key(key), png, {
      httpMetadata: { contentType: 'image/png' },
      customMetadata: { [OBJECT_METADATA.modelVersion]: 'job-1' },
    });
    const hit = await call(path);
    expect(hit.headers.get('x-oftsr-cache')).toBe('hit');
    expect(hit.headers.get('x-model-version')).toBe('job-1');
  });

  it('a runner reporting another model version is stored under its version (and logged)', async () => {
    const warn = vi.spyOn(console, 'warn').mockImplementation(() => {});
    mockFetch({
      'origin.test': fakeOrigin({ 'cat.png': png }),
      'runner.test': fakeRunner({ modelVersion: 'other-1' }),
    });
    const path = `${uniquePath('cat.png')}?sr=4`;
    const res = await call(path);
    expect(res.headers.get('x-model-version')).toBe('other-1');
    const key = (res.headers.get('etag') ?? '').slice(1, -1);
    expect((await env.CACHE_BUCKET.get(r2Key(key)))?.customMetadata?.[OBJECT_METADATA.modelVersion]).toBe(
      'other-1',
    );
    expect(warn.mock.calls.some(([m]) => String(m).includes('model_version_mismatch'))).toBe(true);
    // The configured version's key stays empty, so the next request misses again.
    expect((await call(path)).headers.get('x-oftsr-cache')).toBe('miss');
  });
});

describe('configuration', () => {
  it('calls the runner through the RUNNER service binding when bound', async () => {
    const calls = mockFetch({ 'origin.test': fakeOrigin({ 'cat.png': png }) });
    const runner = fakeRunner();
    const seen: string[] = [];
    const RUNNER = {
      fetch: async (input: string, init?: RequestInit) => {
        const req = new Request(input, init);
        seen.push(`${req.method} ${req.url} ${req.headers.get('authorization') ?? ''}`);
        return runner(req, new URL(req.url));
      },
    };
    const res = await call(`${uniquePath('cat.png')}?sr=4`, { env: { RUNNER } });
    expect(res.headers.get('x-oftsr-cache')).toBe('miss');
    expect(seen).toEqual([
      'POST https://runner.internal/v1/upscale?format=png&q=85&seed=0&sr=4&t=0.5 Bearer test-runner-token',
    ]);
    expect(calls['runner.test']).toBeUndefined();
  });

  it('a misconfiguration is a 500 naming the variable', async () => {
    vi.spyOn(console, 'error').mockImplementation(() => {});
    const res = await call('/cat.png', { env: { SIGNING_MODE: 'presets', SIGNING_KEYS: '' } });
    expect(res.status).toBe(500);
    expect((await errorOf(res)).error.message).toContain('SIGNING_KEYS');
    const bad = await call('/cat.png', { env: { MAX_SOURCE_BYTES: 'lots' } });
    expect((await errorOf(bad)).error.message).toContain('MAX_SOURCE_BYTES');
  });
});

describe('format negotiation', () => {
  const cases: [accept: string | null, format: string, expected: string][] = [
    ['image/avif,image/webp,image/apng,image/*,*/*;q=0.8', 'auto', 'image/avif'],
    ['image/webp,*/*', 'auto', 'image/webp'],
    ['image/avif;q=0,image/webp', 'auto', 'image/webp'],
    // Malformed weights drop the range instead of reading as q = 1.
    ['image/avif;q=0.0000000,image/webp', 'auto', 'image/webp'],
    ['image/avif;q=2, image/webp;q=0.5', 'auto', 'image/webp'],
    ['image/avif;Q=0.001', 'auto', 'image/avif'],
    ['image/webp;q=1.000', 'auto', 'image/webp'],
    ['*/*', 'auto', 'image/png'],
    ['image/*', 'auto', 'image/png'],
    [null, 'auto', 'image/png'],
    ['image/avif,image/webp', 'jpeg', 'image/jpeg'],
    ['text/html', 'webp', 'image/webp'],
  ];
  it.each(cases)('Accept %s with format=%s gives %s', async (accept, format, expected) => {
    const calls = mockFetch({ 'origin.test': fakeOrigin({ 'cat.png': png }), 'runner.test': fakeRunner() });
    const headers: Record<string, string> = accept === null ? {} : { accept };
    const res = await call(`${uniquePath('cat.png')}?format=${format}`, { headers });
    expect(res.headers.get('content-type')).toBe(expected);
    expect(calls['runner.test']?.[0]?.url.searchParams.get('format')).toBe(expected.slice('image/'.length));
    expect(res.headers.get('vary')).toBe(format === 'auto' ? 'Accept' : null);
  });

  it('Accept variants map to three keys: avif, webp, and the rest', async () => {
    const calls = mockFetch({ 'origin.test': fakeOrigin({ 'cat.png': png }), 'runner.test': fakeRunner() });
    const path = uniquePath('cat.png');
    const etag = async (accept: string): Promise<string | null> =>
      (await call(path, { headers: { accept } })).headers.get('etag');
    const avif = await etag('image/avif,image/webp,*/*');
    const webp = await etag('image/webp,*/*');
    const other = await etag('*/*');
    expect(new Set([avif, webp, other]).size).toBe(3);
    expect(await etag('image/avif, image/webp;q=0.9')).toBe(avif);
    expect(await etag('image/webp;q=0.8, text/html')).toBe(webp);
    expect(await etag('image/png,image/jpeg')).toBe(other);
    expect(calls['runner.test']).toHaveLength(3);
  });

  it('large outputs become WebP rather than AVIF', async () => {
    const calls = mockFetch({ 'origin.test': fakeOrigin({ 'cat.png': png }), 'runner.test': fakeRunner() });
    const accept = 'image/avif,image/webp,*/*';
    // 192x128 at x4 is 393,216 output pixels.
    const big = await call(`${uniquePath('cat.png')}?sr=4`, {
      headers: { accept },
      env: { AVIF_MAX_OUTPUT_PIXELS: '393215' },
    });
    expect(big.headers.get('content-type')).toBe('image/webp');
    const small = await call(`${uniquePath('cat.png')}?sr=2`, {
      headers: { accept },
      env: { AVIF_MAX_OUTPUT_PIXELS: '393215' },
    });
    expect(small.headers.get('content-type')).toBe('image/avif');
    expect(calls['runner.test']?.map((c) => c.url.searchParams.get('format'))).toEqual(['webp', 'avif']);
  });

  it('auto keeps JPEG for JPEG sources when the client names neither AVIF nor WebP', async () => {
    mockFetch({
      'origin.test': fakeOrigin({ 'a.jpg': fixture('landscape.jpg') }),
      'runner.test': fakeRunner(),
    });
    const res = await call(`${uniquePath('a.jpg')}`, { headers: { accept: '*/*' } });
    expect(res.headers.get('content-type')).toBe('image/jpeg');
  });
});

describe('limits', () => {
  it('413 when Content-Length exceeds MAX_SOURCE_BYTES (the runner is never called)', async () => {
    const calls = mockFetch({ 'origin.test': fakeOrigin({ 'cat.png': png }), 'runner.test': fakeRunner() });
    const res = await call(`${uniquePath('cat.png')}`, { env: { MAX_SOURCE_BYTES: '1000' } });
    expect(res.status).toBe(413);
    expect((await errorOf(res)).error.code).toBe('too_large');
    expect(calls['runner.test']).toBeUndefined();
  });

  it('413 when a stream without Content-Length grows past MAX_SOURCE_BYTES', async () => {
    let pulled = 0;
    const endless = (): Response =>
      new Response(
        new ReadableStream<Uint8Array>({
          pull(controller) {
            controller.enqueue(pulled === 0 ? png.subarray(0, 1024) : new Uint8Array(1024));
            pulled++;
          },
        }),
      );
    const calls = mockFetch({
      'origin.test': fakeOrigin({ 'endless.png': endless }),
      'runner.test': fakeRunner(),
    });
    const res = await call(`${uniquePath('endless.png')}`, { env: { MAX_SOURCE_BYTES: '65536' } });
    expect(res.status).toBe(413);
    expect(pulled).toBeLessThan(100);
    expect(calls['runner.test']).toBeUndefined();
  });

  it('413 when the header says more than MAX_SOURCE_PIXELS, before the body is read', async () => {
    const calls = mockFetch({ 'origin.test': fakeOrigin({ 'cat.png': png }), 'runner.test': fakeRunner() });
    const res = await call(`${uniquePath('cat.png')}`, { env: { MAX_SOURCE_PIXELS: String(192 * 128 - 1) } });
    expect(res.status).toBe(413);
    expect((await errorOf(res)).error.message).toContain('192x128');
    expect(calls['runner.test']).toBeUndefined();
  });

  it('504 timeout when the origin stalls mid-body (within SOURCE_TIMEOUT_MS)', async () => {
    const stalled = (): Response =>
      new Response(
        new ReadableStream<Uint8Array>({
          start(controller) {
            controller.enqueue(png.subarray(0, 200)); // the header, then nothing more
          },
        }),
      );
    const calls = mockFetch({
      'origin.test': fakeOrigin({ 'stall.png': stalled }),
      'runner.test': fakeRunner(),
    });
    const started = Date.now();
    const res = await call(uniquePath('stall.png'), { env: { SOURCE_TIMEOUT_MS: '300' } });
    expect(res.status).toBe(504);
    expect((await errorOf(res)).error.code).toBe('timeout');
    expect(Date.now() - started).toBeLessThan(5_000);
    expect(calls['runner.test']).toBeUndefined();
  });

  it('415 for a source that is not an image; 400 for a truncated header', async () => {
    mockFetch({
      'origin.test': fakeOrigin({
        'a.png': new TextEncoder().encode('<html>nope</html>'),
        'b.png': png.subarray(0, 20),
      }),
      'runner.test': fakeRunner(),
    });
    expect((await call(uniquePath('a.png'))).status).toBe(415);
    const truncated = await call(uniquePath('b.png'));
    expect(truncated.status).toBe(400);
    expect((await errorOf(truncated)).error.code).toBe('bad_image');
  });
});

describe('fallback', () => {
  const scenarios: [string, Record<string, ReturnType<typeof fakeRunner>>, Record<string, string>, string][] =
    [
      ['runner down', {}, {}, 'upstream'],
      ['runner failing (500)', { 'runner.test': fakeRunner({ status: 500 }) }, {}, 'upstream'],
      [
        'runner slow',
        { 'runner.test': fakeRunner({ delayMs: 2_000 }) },
        { RUNNER_TIMEOUT_MS: '100' },
        'timeout',
      ],
    ];
  it.each(scenarios)(
    '%s → the original image, short TTL, fallback header',
    async (_name, runner, overrides, reason) => {
      vi.spyOn(console, 'warn').mockImplementation(() => {});
      mockFetch({ 'origin.test': fakeOrigin({ 'cat.png': png }), ...runner });
      const path = `${uniquePath('cat.png')}?sr=4`;
      const res = await call(path, { env: overrides });
      expect(res.status).toBe(200);
      expect(res.headers.get('x-oftsr-cache')).toBe('fallback');
      expect(res.headers.get('x-oftsr-fallback-reason')).toBe(reason);
      expect(res.headers.get('cache-control')).toBe('public, max-age=60');
      expect(res.headers.get('content-type')).toBe('image/png');
      expect(new Uint8Array(await res.arrayBuffer())).toEqual(png);
      // Nothing was cached: the next request tries the runner again.
      mockFetch({ 'origin.test': fakeOrigin({ 'cat.png': png }), 'runner.test': fakeRunner() });
      expect((await call(path)).headers.get('x-oftsr-cache')).toBe('miss');
    },
  );

  it('runner overload is reported as overloaded, not upstream', async () => {
    vi.spyOn(console, 'warn').mockImplementation(() => {});
    mockFetch({
      'origin.test': fakeOrigin({ 'cat.png': png }),
      'runner.test': fakeRunner({ status: 429, code: 'overloaded' }),
    });
    const res = await call(`${uniquePath('cat.png')}?sr=4`);
    expect(res.headers.get('x-oftsr-fallback-reason')).toBe('overloaded');
    expect(res.headers.get('cache-control')).toBe('public, max-age=60');
  });

  it.each([
    [422, 'too_large'],
    [415, 'unsupported_format'],
  ])(
    'a permanent refusal (%i %s) is a definite answer: the original, a long TTL, no runner call on the next view',
    async (status, code) => {
      vi.spyOn(console, 'warn').mockImplementation(() => {});
      const calls = mockFetch({
        'origin.test': fakeOrigin({ 'cat.png': png }),
        'runner.test': fakeRunner({ status, code }),
      });
      const path = `${uniquePath('cat.png')}?sr=4`;
      for (let view = 0; view < 3; view++) {
        const res = await call(path);
        expect(res.status).toBe(200);
        expect(res.headers.get('x-oftsr-cache')).toBe('fallback');
        expect(res.headers.get('x-oftsr-fallback-reason')).toBe('unsupported');
        expect(res.headers.get('cache-control')).toBe('public, max-age=86400');
        expect(new Uint8Array(await res.arrayBuffer())).toEqual(png);
      }
      expect(calls['runner.test']).toHaveLength(1);
      expect(calls['origin.test']).toHaveLength(1);
    },
  );

  it('FALLBACK_MODE=redirect answers 302 to the origin', async () => {
    vi.spyOn(console, 'warn').mockImplementation(() => {});
    mockFetch({ 'origin.test': fakeOrigin({ 'cat.png': png }) });
    const path = uniquePath('cat.png');
    const res = await call(`${path}?sr=4`, { env: { FALLBACK_MODE: 'redirect', FALLBACK_TTL_S: '30' } });
    expect(res.status).toBe(302);
    expect(res.headers.get('location')).toBe(`https://origin.test/images${path}`);
    expect(res.headers.get('cache-control')).toBe('public, max-age=30');
    expect(res.headers.get('x-oftsr-cache')).toBe('fallback');
  });
});

describe('coalescing', () => {
  it('concurrent misses for one key make one runner call', async () => {
    const calls = mockFetch({
      'origin.test': fakeOrigin({ 'cat.png': png }),
      'runner.test': fakeRunner({ delayMs: 300 }),
    });
    const url = `https://img.example.com${uniquePath('cat.png')}?sr=4&t=0.3`;
    // Each client reads its body as soon as it has headers, as real clients do.
    const results = await Promise.all(
      Array.from({ length: 5 }, async () => {
        const r = await exports.default.fetch(url);
        return { r, body: new Uint8Array(await r.arrayBuffer()) };
      }),
    );
    const responses = results.map((x) => x.r);
    const bodies = results.map((x) => x.body);
    expect(responses.map((r) => r.status)).toEqual([200, 200, 200, 200, 200]);
    expect(responses.filter((r) => r.headers.get('x-oftsr-cache') === 'miss')).toHaveLength(1);
    expect(calls['runner.test']).toHaveLength(1);
    for (const body of bodies) expect(body).toEqual(bodies[0]);
  });
});
