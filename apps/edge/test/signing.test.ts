import { ErrorBody } from '@oftsr/shared';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { canonicalSigningInput, signUrl } from '../src/signing.ts';
import { call, fakeOrigin, fakeRunner, fixture, mockFetch, uniquePath } from './helpers.ts';

const png = fixture('landscape-192x128.png');
const CURRENT = 'test-key-current';
const PREVIOUS = 'test-key-previous';

afterEach(() => {
  vi.restoreAllMocks();
});

function setup(): void {
  mockFetch({ 'origin.test': fakeOrigin({ 'cat.png': png }), 'runner.test': fakeRunner() });
}

async function get(url: string, mode = 'required'): Promise<Response> {
  const u = new URL(url);
  return call(u.pathname + u.search, { env: { SIGNING_MODE: mode } });
}

async function forbidden(res: Response): Promise<string> {
  expect(res.status).toBe(403);
  const body = ErrorBody.parse(await res.json());
  expect(body.error.field).toBe('sig');
  expect(body.error.code).toBe('unauthorized');
  return body.error.message;
}

const url = (query: string): string => `https://img.example.com${uniquePath('cat.png')}?${query}`;
const now = (): number => Math.floor(Date.now() / 1000);

describe('canonicalSigningInput', () => {
  it('sorts pairs, encodes them and leaves sig out', () => {
    expect(canonicalSigningInput(new URL('https://x/a%20b.jpg?t=0.7&sr=4&sig=zzz&b=2&b=1'))).toBe(
      '/a%20b.jpg?b=1&b=2&sr=4&t=0.7',
    );
  });

  it('signs the canonical path, so every spelling of one image verifies alike', () => {
    const input = (path: string) => canonicalSigningInput(new URL(`https://x${path}?sr=4`));
    expect(input('//photos/%6candscape%2d1.png')).toBe('/photos/landscape-1.png?sr=4');
    expect(input('/photos/%c3%bc.png')).toBe(input('/photos/%C3%BC.png'));
  });
});

describe('signed URLs', () => {
  it('a valid signature is served', async () => {
    setup();
    expect((await get(await signUrl(url('sr=4&t=0.7'), CURRENT))).status).toBe(200);
  });

  it('any parameter order verifies (the canonical query is sorted)', async () => {
    setup();
    const signed = new URL(await signUrl(url('sr=4&t=0.7'), CURRENT));
    const reordered = `${signed.pathname}?t=0.7&sig=${signed.searchParams.get('sig') ?? ''}&sr=4`;
    expect((await call(reordered, { env: { SIGNING_MODE: 'required' } })).status).toBe(200);
  });

  it('a wrong signature, a tampered parameter or a key we do not hold is 403', async () => {
    setup();
    const signed = await signUrl(url('sr=4&t=0.7'), CURRENT);
    expect(await forbidden(await get(signed.replace('t=0.7', 't=0.8')))).toContain('does not match');
    // The first character always changes (a signature that already starts with `A` gets a `B`).
    const wrongSig = signed.replace(/sig=(.)/, (_, c: string) => `sig=${c === 'A' ? 'B' : 'A'}`);
    expect(wrongSig).not.toBe(signed);
    expect(await forbidden(await get(wrongSig))).toContain('does not match');
    expect(await forbidden(await get(`${signed}x`))).toContain('base64url');
    expect(await forbidden(await get(await signUrl(url('sr=4'), 'some-other-key')))).toContain(
      'does not match',
    );
    // Even with signing off, a sig that is present must be right.
    expect(await forbidden(await get(signed.replace('t=0.7', 't=0.8'), 'off'))).toContain('does not match');
  });

  it('an expired signature is 403; an unexpired one is served', async () => {
    setup();
    expect(
      await forbidden(await get(await signUrl(url('sr=4'), CURRENT, { expiresAt: now() - 10 }))),
    ).toContain('expired');
    expect((await get(await signUrl(url('sr=4'), CURRENT, { expiresAt: now() + 600 }))).status).toBe(200);
    // exp is signed: extending it breaks the signature.
    const short = await signUrl(url('sr=4'), CURRENT, { expiresAt: now() - 10 });
    const extended = short.replace(/exp=\d+/, `exp=${now() + 3600}`);
    expect(await forbidden(await get(extended))).toContain('does not match');
  });

  it('rotation: URLs signed with any active key verify', async () => {
    setup();
    expect((await get(await signUrl(url('sr=4'), PREVIOUS))).status).toBe(200);
    expect((await get(await signUrl(url('sr=4'), CURRENT))).status).toBe(200);
    // Once the previous key is retired its URLs stop working.
    const old = new URL(await signUrl(url('sr=4'), PREVIOUS));
    const retired = await call(old.pathname + old.search, {
      env: { SIGNING_MODE: 'required', SIGNING_KEYS: CURRENT },
    });
    await forbidden(retired);
  });

  it('required mode refuses unsigned URLs', async () => {
    setup();
    expect(await forbidden(await get(url('sr=4')))).toContain('signed');
  });
});

describe('presets-only mode', () => {
  it('unsigned URLs may use a named preset and nothing else', async () => {
    const calls = mockFetch({ 'origin.test': fakeOrigin({ 'cat.png': png }), 'runner.test': fakeRunner() });
    const res = await get(url('preset=thumb'), 'presets');
    expect(res.status).toBe(200);
    expect(calls['runner.test']?.[0]?.url.search).toBe('?format=png&q=80&seed=0&sr=2&t=0.3');
    await forbidden(await get(url('sr=4&t=0.7'), 'presets'));
    await forbidden(await get(url(''), 'presets'));
    await forbidden(await get(url('preset=thumb&t=0.9'), 'presets'));
    expect((await get(url('preset=nope'), 'presets')).status).toBe(400);
  });

  it('signed URLs may use raw parameters', async () => {
    setup();
    expect((await get(await signUrl(url('sr=4&t=0.9'), CURRENT), 'presets')).status).toBe(200);
  });
});
