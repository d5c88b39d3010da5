import { ErrorBody } from '@oftsr/shared';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { blockedHostReason } from '../src/ssrf.ts';
import { call, fakeOrigin, fakeRunner, fixture, mockFetch, uniquePath } from './helpers.ts';

const png = fixture('landscape-192x128.png');

beforeEach(() => {
  vi.spyOn(console, 'error').mockImplementation(() => {}); // refusals are logged as 5xx
  vi.spyOn(console, 'warn').mockImplementation(() => {});
});

afterEach(() => {
  vi.restoreAllMocks();
});

/** Hostname as the URL parser normalises it (which is what the edge checks). */
const host = (h: string): string => new URL(`http://${h}/`).hostname;

describe('blockedHostReason', () => {
  it.each([
    '127.0.0.1',
    '127.1',
    '0x7f.0.0.1',
    '2130706433',
    '0177.0.0.1',
    '0.0.0.0',
    '0',
    '10.1.2.3',
    '172.16.0.1',
    '172.31.255.255',
    '192.168.1.1',
    '169.254.169.254',
    '100.64.0.1',
    '100.127.255.255',
    '224.0.0.1',
    '255.255.255.255',
    '198.18.0.1',
    '[::1]',
    '[::]',
    '[::ffff:127.0.0.1]',
    '[::ffff:a9fe:a9fe]',
    '[64:ff9b::7f00:1]',
    '[64:ff9b:1::a00:1]',
    '[64:ff9b:1::808:808]',
    '[::ffff:0:127.0.0.1]',
    '[::ffff:0:a9fe:a9fe]',
    '[2002:7f00:1::]',
    '[2002:a9fe:a9fe::1]',
    '[2001:0:4136:e378:8000:63bf:3fff:fdd2]',
    '[fc00::1]',
    '[fd12:3456::1]',
    '[fe80::1]',
    '[ff02::1]',
    'localhost',
    'LOCALHOST.',
    'api.localhost',
    'printer.local',
    'metadata.google.internal',
  ])('refuses %s', (h) => {
    expect(blockedHostReason(host(h))).toBeDefined();
  });

  it.each([
    '8.8.8.8',
    '1.1.1.1',
    '172.32.0.1',
    '100.128.0.1',
    '[2606:4700::1111]',
    '[::ffff:8.8.8.8]',
    '[2002:808:808::1]',
    '[::ffff:0:8.8.8.8]',
    'origin.example.com',
  ])('allows %s', (h) => {
    expect(blockedHostReason(host(h))).toBeUndefined();
  });
});

async function refused(res: Response, status: number): Promise<string> {
  expect(res.status).toBe(status);
  return ErrorBody.parse(await res.json()).error.message;
}

describe('the Worker refuses private origins and escaping redirects', () => {
  it.each([
    'http://127.0.0.1:8788/',
    'http://169.254.169.254/latest/',
    'http://[::1]/',
    'http://localhost/',
    'http://10.0.0.5/img/',
  ])('ORIGIN_URL %s is refused without ALLOW_PRIVATE_ORIGINS (nothing is fetched)', async (origin) => {
    const calls = mockFetch({});
    const res = await call(uniquePath('cat.png'), {
      env: { ORIGIN_URL: origin, ALLOW_PRIVATE_ORIGINS: 'false' },
    });
    expect(await refused(res, 502)).toContain('refused');
    expect(Object.keys(calls)).toEqual([]);
  });

  it('a private host stays refused even when listed in ORIGIN_ALLOWED_HOSTS', async () => {
    const redirectTo = () =>
      new Response(null, { status: 302, headers: { location: 'http://169.254.169.254/x.png' } });
    const calls = mockFetch({ 'origin.test': fakeOrigin({ 'cat.png': redirectTo }) });
    const res = await call(uniquePath('cat.png'), {
      env: { ORIGIN_ALLOWED_HOSTS: 'http://169.254.169.254', ALLOW_PRIVATE_ORIGINS: 'false' },
    });
    expect(await refused(res, 502)).toContain('link-local');
    expect(Object.keys(calls)).toEqual(['origin.test']);
  });

  it('ALLOW_PRIVATE_ORIGINS=true (dev only) lets a loopback origin through', async () => {
    mockFetch({ '127.0.0.1:8788': fakeOrigin({ 'cat.png': png }), 'runner.test': fakeRunner() });
    const res = await call(uniquePath('cat.png'), {
      env: { ORIGIN_URL: 'http://127.0.0.1:8788/', ALLOW_PRIVATE_ORIGINS: 'true' },
    });
    expect(res.status).toBe(200);
  });

  const redirect = (location: string) => () => new Response(null, { status: 302, headers: { location } });

  it.each([
    ['a private IP', 'http://169.254.169.254/latest/meta-data'],
    ['loopback', 'http://127.0.0.1/cat.png'],
    ['a host outside the allow-list', 'https://evil.example/cat.png'],
    ['another scheme', 'file:///etc/passwd'],
    ['credentials', 'https://user:pw@origin.test/images/cat.png'],
  ])('a redirect to %s is refused', async (_what, location) => {
    const calls = mockFetch({
      'origin.test': fakeOrigin({ 'cat.png': redirect(location) }),
      'runner.test': fakeRunner(),
    });
    const res = await call(uniquePath('cat.png'), { env: { ALLOW_PRIVATE_ORIGINS: 'false' } });
    expect(await refused(res, 502)).toContain('refused');
    expect(Object.keys(calls)).toEqual(['origin.test']);
  });

  it('the allow-list matches scheme, host and port: a redirect to another port of the origin host is refused', async () => {
    // The dev setup: origin on 127.0.0.1:8788, the runner's /metrics on 127.0.0.1:8789.
    const calls = mockFetch({
      '127.0.0.1:8788': fakeOrigin({ 'cat.png': redirect('http://127.0.0.1:8789/metrics') }),
      '127.0.0.1:8789': () => new Response('oftsr_queue_depth 0'),
      'origin.test': fakeOrigin({ 'cat.png': redirect('http://origin.test/images/cat.png') }),
      'runner.test': fakeRunner(),
    });
    const res = await call(uniquePath('cat.png'), {
      env: { ORIGIN_URL: 'http://127.0.0.1:8788/', ALLOW_PRIVATE_ORIGINS: 'true' },
    });
    expect(await refused(res, 502)).toContain('allow-list');
    expect(calls['127.0.0.1:8789']).toBeUndefined();
    // https → http on the same host is another origin too.
    expect(await refused(await call(uniquePath('cat.png')), 502)).toContain('allow-list');
    const listed = await call(uniquePath('cat.png'), {
      env: { ORIGIN_ALLOWED_HOSTS: 'http://origin.test', MAX_REDIRECTS: '1' },
    });
    expect(await refused(listed, 502)).toContain('more than 1'); // followed once, then the loop stops
  });

  it('redirects inside the allow-list are followed, up to MAX_REDIRECTS', async () => {
    const files = {
      'a.png': redirect('/images/b.png'),
      'b.png': redirect('https://cdn.test/images/c.png'),
      'c.png': png,
    };
    mockFetch({
      'origin.test': fakeOrigin(files),
      'cdn.test': fakeOrigin(files),
      'runner.test': fakeRunner(),
    });
    const ok = await call(uniquePath('a.png'), {
      env: { ORIGIN_ALLOWED_HOSTS: 'cdn.test', MAX_REDIRECTS: '2' },
    });
    expect(ok.status).toBe(200);
    const tooMany = await call(uniquePath('a.png'), {
      env: { ORIGIN_ALLOWED_HOSTS: 'cdn.test', MAX_REDIRECTS: '1' },
    });
    expect(await refused(tooMany, 502)).toContain('more than 1');
    const notAllowed = await call(uniquePath('a.png'), { env: { MAX_REDIRECTS: '5' } });
    expect(await refused(notAllowed, 502)).toContain('allow-list');
  });

  it('a redirect loop stops at MAX_REDIRECTS', async () => {
    const calls = mockFetch({ 'origin.test': fakeOrigin({ 'loop.png': redirect('/images/x/loop.png') }) });
    const res = await call(uniquePath('loop.png'));
    expect(await refused(res, 502)).toContain('more than 3');
    expect(calls['origin.test']).toHaveLength(4);
  });

  it.each([
    '//evil.example/cat.png',
    '/%2e%2e/secret.png',
    '/a/%2e%2e/%2e%2e/secret.png',
    '/a/..%2f..%2fsecret.png',
    '/a%5c..%5csecret.png',
    '/a%00.png',
    '/%E0%A4%A.png',
  ])('path %s cannot leave the origin', async (path) => {
    const calls = mockFetch({
      'evil.example': fakeOrigin({}),
      'origin.test': fakeOrigin({ 'cat.png': png }),
    });
    const res = await call(path);
    if (res.status === 400) {
      expect(ErrorBody.parse(await res.json()).error.field).toBe('path');
    } else {
      // Resolved as a path under the origin's base: the fetched URL stays there.
      for (const c of calls['origin.test'] ?? []) expect(c.url.pathname.startsWith('/images/')).toBe(true);
    }
    expect(calls['evil.example']).toBeUndefined();
  });
});
