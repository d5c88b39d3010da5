// The CDN vocabulary at the edge: width/height/dpr/fit resolved into one canonical request (one cache
// key), onerror, the unknown-parameter rule, and GIFs (still: upscaled; animated: the original).
import { ErrorBody } from '@oftsr/shared';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { isAnimated } from '../src/image-size.ts';
import { call, fakeOrigin, fakeRunner, fixture, mockFetch, uniquePath } from './helpers.ts';

const png = fixture('landscape-192x128.png');
const gif = fixture('landscape.gif');

/** A 1×1 GIF with two frames (the block structure is what matters: the edge never decodes it). */
const frame = [0x2c, 0, 0, 0, 0, 1, 0, 1, 0, 0x00, 0x02, 0x02, 0x44, 0x01, 0x00];
const animatedGif = Uint8Array.from([
  ...[0x47, 0x49, 0x46, 0x38, 0x39, 0x61, 1, 0, 1, 0, 0x80, 0, 0],
  ...[0, 0, 0, 255, 255, 255],
  ...[0x21, 0xf9, 0x04, 0x00, 0x0a, 0x00, 0x00, 0x00],
  ...frame,
  ...[0x21, 0xf9, 0x04, 0x00, 0x0a, 0x00, 0x00, 0x00],
  ...frame,
  0x3b,
]);

afterEach(() => {
  vi.restoreAllMocks();
});

describe('width, height, dpr, fit', () => {
  it('?width=800&dpr=2 and the explicit ?width=1600 share one cache key and one runner call', async () => {
    const calls = mockFetch({ 'origin.test': fakeOrigin({ 'a.png': png }), 'runner.test': fakeRunner() });
    const base = uniquePath('a.png');
    const first = await call(`${base}?width=800&dpr=2`);
    expect(first.status).toBe(200);
    expect(first.headers.get('x-oftsr-cache')).toBe('miss');
    for (const query of ['width=1600', 'width=1600&fit=scale-down&dpr=1', 'dpr=2&width=800']) {
      const again = await call(`${base}?${query}`);
      expect(again.headers.get('x-oftsr-cache'), query).toBe('hit');
      expect(again.headers.get('etag'), query).toBe(first.headers.get('etag'));
    }
    expect(calls['runner.test']).toHaveLength(1);
    // The runner gets the canonical request: the box in device pixels, no sr.
    expect(calls['runner.test']?.[0]?.url.search).toBe(
      '?fit=scale-down&format=png&q=85&seed=0&t=0.5&width=1600',
    );
    // A different fit is another request (its own key), even where it would give the same size.
    await call(`${base}?width=600`);
    expect((await call(`${base}?width=600&fit=contain`)).headers.get('x-oftsr-cache')).toBe('miss');
    expect(calls['runner.test']).toHaveLength(3);
  });

  it('refuses a bad box with 400 naming the field; a box past ×4 only once the source size is known', async () => {
    const calls = mockFetch({ 'origin.test': fakeOrigin({ 'a.png': png }), 'runner.test': fakeRunner() });
    for (const [query, field] of [
      ['width=0', 'width'],
      ['width=800&sr=4', 'sr'],
      ['dpr=2', 'dpr'],
      ['width=100&fit=fill', 'fit'],
      ['width=100&dpr=9', 'dpr'],
      ['width=1000&fit=contain', 'width'], // 192 px wide: ×5.2
      ['onerror=maybe', 'onerror'],
      ['sr=4&metadata=keep', 'metadata'],
    ] as const) {
      const res = await call(`${uniquePath('a.png')}?${query}`);
      expect(res.status, query).toBe(400);
      expect(ErrorBody.parse(await res.json()).error.field, query).toBe(field);
    }
    expect(calls['runner.test']).toBeUndefined();
  });
});

describe('unknown parameters', () => {
  it('are ignored, never split the cache, and are named in X-Oftsr-Ignored-Params', async () => {
    const calls = mockFetch({ 'origin.test': fakeOrigin({ 'a.png': png }), 'runner.test': fakeRunner() });
    const base = uniquePath('a.png');
    const plain = await call(`${base}?sr=4&metadata=none`);
    expect(plain.headers.get('x-oftsr-ignored-params')).toBeNull();
    const extra = await call(`${base}?sr=4&blur=5&utm_source=x&blur=6`);
    expect(extra.status).toBe(200);
    expect(extra.headers.get('x-oftsr-cache')).toBe('hit');
    expect(extra.headers.get('x-oftsr-ignored-params')).toBe('blur,utm_source');
    // A key that is not ASCII is named percent-encoded: header values must be ASCII.
    const odd = await call(`${base}?sr=4&%C3%BCber=1&a%2Cb=2`);
    expect(odd.headers.get('x-oftsr-ignored-params')).toBe('%C3%BCber,a%2Cb');
    // A control character in a key (the fuzz test's `!%0d'`) must not reach the header raw (a 500).
    const cr = await call(`${base}?sr=4&!%0d'`);
    expect(cr.status).toBe(200);
    expect(cr.headers.get('x-oftsr-ignored-params')).toBe("!%0D'");
    expect(calls['runner.test']).toHaveLength(1);
  });
});

describe('GIF sources', () => {
  it('a still GIF is upscaled (sent to the runner as image/gif)', async () => {
    const calls = mockFetch({ 'origin.test': fakeOrigin({ 'a.gif': gif }), 'runner.test': fakeRunner() });
    expect(isAnimated(gif, 'gif')).toBe(false);
    const res = await call(`${uniquePath('a.gif')}?sr=4`);
    expect(res.status).toBe(200);
    expect(res.headers.get('x-oftsr-cache')).toBe('miss');
    expect(res.headers.get('content-type')).toBe('image/png');
    expect(calls['runner.test']?.[0]?.headers.get('content-type')).toBe('image/gif');
  });

  it('an animated GIF is served as the original, with the reason "animated"', async () => {
    const calls = mockFetch({
      'origin.test': fakeOrigin({ 'a.gif': animatedGif }),
      'runner.test': fakeRunner(),
    });
    expect(isAnimated(animatedGif, 'gif')).toBe(true);
    const res = await call(`${uniquePath('a.gif')}?sr=4`);
    expect(res.status).toBe(200);
    expect(res.headers.get('x-oftsr-cache')).toBe('fallback');
    expect(res.headers.get('x-oftsr-fallback-reason')).toBe('animated');
    expect(res.headers.get('content-type')).toBe('image/gif');
    expect(new Uint8Array(await res.arrayBuffer())).toEqual(animatedGif);
    expect(calls['runner.test']).toBeUndefined();
  });
});

describe('coalesced followers', () => {
  it("get the leader's answer where the source decides it: animated, or 400 for a box past ×4", async () => {
    mockFetch({
      'origin.test': fakeOrigin({ 'a.gif': animatedGif, 'a.png': png }),
      'runner.test': fakeRunner(),
    });
    const gifPath = `${uniquePath('a.gif')}?sr=4`;
    const both = await Promise.all([call(gifPath), call(gifPath)]);
    expect(both.map((r) => r.headers.get('x-oftsr-fallback-reason'))).toEqual(['animated', 'animated']);
    const pngPath = `${uniquePath('a.png')}?width=2000&fit=contain`;
    const sized = await Promise.all([call(pngPath), call(pngPath)]);
    expect(sized.map((r) => r.status)).toEqual([400, 400]);
  });
});

describe('onerror', () => {
  it('onerror=redirect answers a failed upscale with a 302 to the origin, whatever FALLBACK_MODE says', async () => {
    vi.spyOn(console, 'warn').mockImplementation(() => {});
    mockFetch({ 'origin.test': fakeOrigin({ 'a.png': png }), 'runner.test': fakeRunner({ status: 503 }) });
    const path = uniquePath('a.png');
    const res = await call(`${path}?sr=4&onerror=redirect`);
    expect(res.status).toBe(302);
    expect(res.headers.get('location')).toBe(`https://origin.test/images${path}`);
    expect(res.headers.get('x-oftsr-fallback-reason')).toBe('upstream');
    const original = await call(`${path}?sr=4&onerror=original`, { env: { FALLBACK_MODE: 'redirect' } });
    expect(original.status).toBe(200);
    expect(new Uint8Array(await original.arrayBuffer())).toEqual(png);
  });
});
