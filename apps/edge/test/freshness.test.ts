import { ErrorBody } from '@oftsr/shared';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { call, fakeRunner, fixture, mockFetch, uniquePath, type HostHandler } from './helpers.ts';

const v1 = fixture('landscape-192x128.png');
const v2 = fixture('badge-128x128.png');
const TOKEN = 'purge-token-0123456789';

beforeEach(() => {
  vi.spyOn(console, 'warn').mockImplementation(() => {});
});

afterEach(() => {
  vi.restoreAllMocks();
});

/** An origin whose one file can be replaced, answering conditional requests like a real server. */
function mutableOrigin(validators: 'etag' | 'last-modified' | 'none') {
  let version = { bytes: v1, tag: '"v1"', modified: 'Tue, 01 Dec 2026 10:00:00 GMT' };
  const seen: { conditional: boolean }[] = [];
  let failing = false;
  const handler: HostHandler = (req) => {
    const ifNoneMatch = req.headers.get('if-none-match');
    const ifModifiedSince = req.headers.get('if-modified-since');
    seen.push({ conditional: ifNoneMatch !== null || ifModifiedSince !== null });
    if (failing) return new Response('down', { status: 500 });
    const headers: Record<string, string> = { 'content-type': 'image/png' };
    if (validators === 'etag') headers.etag = version.tag;
    if (validators === 'last-modified') headers['last-modified'] = version.modified;
    if (
      (validators === 'etag' && ifNoneMatch === version.tag) ||
      (validators === 'last-modified' && ifModifiedSince === version.modified)
    ) {
      return new Response(null, { status: 304, headers });
    }
    return new Response(version.bytes, { headers });
  };
  return {
    handler,
    seen,
    replace() {
      version = { bytes: v2, tag: '"v2"', modified: 'Tue, 01 Dec 2026 11:00:00 GMT' };
    },
    fail(on: boolean) {
      failing = on;
    },
  };
}

describe('source freshness: the validator is in the key', () => {
  it.each(['etag', 'last-modified', 'none'] as const)(
    'validators %s: a replaced source is a new key after the TTL; unchanged, a 304 keeps the key',
    async (validators) => {
      const origin = mutableOrigin(validators);
      const calls = mockFetch({ 'origin.test': origin.handler, 'runner.test': fakeRunner() });
      const path = `${uniquePath('photo.png')}?sr=4`;
      const stale = { env: { SOURCE_TTL_S: '0' } }; // every request revalidates

      const first = await call(path, stale);
      expect(first.headers.get('x-oftsr-cache')).toBe('miss');
      const again = await call(path, stale);
      expect(again.headers.get('x-oftsr-cache')).toBe('hit');
      expect(again.headers.get('etag')).toBe(first.headers.get('etag'));
      // A validator lets the origin answer 304; without one the bytes are fetched and hashed again.
      expect(origin.seen.at(-1)?.conditional).toBe(validators !== 'none');
      expect(calls['runner.test']).toHaveLength(1);

      origin.replace();
      const replaced = await call(path, stale);
      expect(replaced.headers.get('x-oftsr-cache')).toBe('miss');
      expect(replaced.headers.get('etag')).not.toBe(first.headers.get('etag'));
      expect(calls['runner.test']).toHaveLength(2);
      expect(calls['runner.test']?.[1]?.body).toEqual(v2);
    },
  );

  it('inside SOURCE_TTL_S hits are origin-free, even after the origin changed', async () => {
    const origin = mutableOrigin('etag');
    const calls = mockFetch({ 'origin.test': origin.handler, 'runner.test': fakeRunner() });
    const path = `${uniquePath('photo.png')}?sr=4`;
    const first = await call(path);
    origin.replace();
    const within = await call(path);
    expect(within.headers.get('x-oftsr-cache')).toBe('hit');
    expect(within.headers.get('etag')).toBe(first.headers.get('etag'));
    expect(calls['origin.test']).toHaveLength(1);
  });

  it('while the origin fails, the known version keeps being served (stale-if-error)', async () => {
    const origin = mutableOrigin('etag');
    mockFetch({ 'origin.test': origin.handler, 'runner.test': fakeRunner() });
    const path = `${uniquePath('photo.png')}?sr=4`;
    const first = await call(path);
    origin.fail(true);
    const during = await call(path, { env: { SOURCE_TTL_S: '0' } });
    expect(during.status).toBe(200);
    expect(during.headers.get('x-oftsr-cache')).toBe('hit');
    expect(during.headers.get('etag')).toBe(first.headers.get('etag'));
  });
});

describe('POST /_oftsr/purge', () => {
  const purge = (path: string, token: string | undefined, env: Record<string, string> = {}) =>
    call(`/_oftsr/purge?path=${encodeURIComponent(path)}`, {
      method: 'POST',
      headers: token === undefined ? {} : { authorization: `Bearer ${token}` },
      env: { PURGE_TOKEN: TOKEN, ...env },
    });

  it('drops the source record: the next request sees the replaced source at once', async () => {
    const origin = mutableOrigin('etag');
    const calls = mockFetch({ 'origin.test': origin.handler, 'runner.test': fakeRunner() });
    const file = uniquePath('photo.png');
    const first = await call(`${file}?sr=4`);
    origin.replace();
    expect((await call(`${file}?sr=4`)).headers.get('etag')).toBe(first.headers.get('etag'));
    // Any spelling of the path purges the one record.
    const res = await purge(file.replace('photo', '%70hoto'), TOKEN);
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ purged: `https://origin.test/images${file}` });
    const after = await call(`${file}?sr=4`);
    expect(after.headers.get('x-oftsr-cache')).toBe('miss');
    expect(after.headers.get('etag')).not.toBe(first.headers.get('etag'));
    expect(calls['runner.test']?.at(-1)?.body).toEqual(v2);
  });

  it('needs the token: 401 with a wrong one, 404 while purge is off, 400 without a path', async () => {
    mockFetch({});
    const wrong = await purge('/a.png', 'nope');
    expect(wrong.status).toBe(401);
    expect(ErrorBody.parse(await wrong.json()).error.code).toBe('unauthorized');
    expect((await purge('/a.png', undefined)).status).toBe(401);
    expect((await purge('/a.png', TOKEN, { PURGE_TOKEN: '' })).status).toBe(404);
    const noPath = await call('/_oftsr/purge', {
      method: 'POST',
      headers: { authorization: `Bearer ${TOKEN}` },
      env: { PURGE_TOKEN: TOKEN },
    });
    expect(noPath.status).toBe(400);
  });
});
