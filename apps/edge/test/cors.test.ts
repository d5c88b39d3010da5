import { afterEach, describe, expect, it, vi } from 'vitest';
import { call, fakeOrigin, fakeRunner, fixture, mockFetch, uniquePath } from './helpers.ts';

const png = fixture('landscape-192x128.png');
const PAGE = 'https://app.example.org';

afterEach(() => {
  vi.restoreAllMocks();
});

function serveCat(): void {
  mockFetch({ 'origin.test': fakeOrigin({ 'cat.png': png }), 'runner.test': fakeRunner() });
}

describe('CORS (CORS_ALLOW_ORIGINS="*", the dev default)', () => {
  it('an image answer may be read by any page, including the headers the SDK reads', async () => {
    serveCat();
    const res = await call(`${uniquePath('cat.png')}?sr=4`, { headers: { origin: PAGE } });
    expect(res.status).toBe(200);
    expect(res.headers.get('access-control-allow-origin')).toBe('*');
    const exposed = (res.headers.get('access-control-expose-headers') ?? '').split(',');
    expect(exposed).toEqual(
      expect.arrayContaining(['x-oftsr-cache', 'x-execution-provider', 'etag', 'x-oftsr-ignored-params']),
    );
    expect(res.headers.get('access-control-allow-credentials')).toBeNull();
    expect(res.headers.get('vary')).toBe('Accept');
  });

  it('errors are readable cross-origin too (the SDK reports the field)', async () => {
    mockFetch({});
    const res = await call('/cat.png?t=2', { headers: { origin: PAGE } });
    expect(res.status).toBe(400);
    expect(res.headers.get('access-control-allow-origin')).toBe('*');
  });

  it('a preflight is answered 204 with GET/HEAD, before any signature check', async () => {
    const res = await call('/cat.png?sr=4', {
      method: 'OPTIONS',
      headers: {
        origin: PAGE,
        'access-control-request-method': 'GET',
        'access-control-request-headers': 'x-request-id',
      },
      env: { SIGNING_MODE: 'required' },
    });
    expect(res.status).toBe(204);
    expect(res.headers.get('access-control-allow-origin')).toBe('*');
    expect(res.headers.get('access-control-allow-methods')).toBe('GET,HEAD');
    expect(res.headers.get('access-control-allow-headers')).toBe('x-request-id');
    expect(res.headers.get('access-control-max-age')).toBe('86400');
  });

  it('health stays CORS-free', async () => {
    const res = await call('/healthz', { headers: { origin: PAGE } });
    expect(res.status).toBe(200);
    expect(res.headers.get('access-control-allow-origin')).toBeNull();
  });
});

describe('CORS with a list of origins', () => {
  const env = { CORS_ALLOW_ORIGINS: `${PAGE}, http://localhost:5173` };

  it('a listed origin is echoed and the answer varies on Origin as well as Accept', async () => {
    serveCat();
    const res = await call(`${uniquePath('cat.png')}?sr=4`, { headers: { origin: PAGE }, env });
    expect(res.status).toBe(200);
    expect(res.headers.get('access-control-allow-origin')).toBe(PAGE);
    expect(res.headers.get('vary')).toBe('Accept, Origin');
  });

  it('another origin gets the image but no permission to read it', async () => {
    serveCat();
    const res = await call(`${uniquePath('cat.png')}?sr=4`, {
      headers: { origin: 'https://evil.example' },
      env,
    });
    expect(res.status).toBe(200);
    expect(res.headers.get('access-control-allow-origin')).toBeNull();
  });
});

describe('CORS off and misconfigured', () => {
  it('empty: no CORS headers, and OPTIONS is 405 like any other method', async () => {
    serveCat();
    const env = { CORS_ALLOW_ORIGINS: '' };
    const res = await call(`${uniquePath('cat.png')}?sr=4`, { headers: { origin: PAGE }, env });
    expect(res.status).toBe(200);
    expect(res.headers.get('access-control-allow-origin')).toBeNull();
    const preflight = await call('/cat.png', { method: 'OPTIONS', headers: { origin: PAGE }, env });
    expect(preflight.status).toBe(405);
  });

  it.each(['not a url', 'https://app.example.org/path', 'app.example.org'])(
    'a value that is not an origin (%s) is a 500 naming the variable, not a silent miss',
    async (value) => {
      vi.spyOn(console, 'error').mockImplementation(() => {});
      const res = await call('/cat.png?sr=4', {
        headers: { origin: PAGE },
        env: { CORS_ALLOW_ORIGINS: value },
      });
      expect(res.status).toBe(500);
      expect(JSON.stringify(await res.json())).toContain('CORS_ALLOW_ORIGINS');
    },
  );
});
