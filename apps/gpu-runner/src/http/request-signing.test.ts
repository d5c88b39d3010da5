import { describe, expect, it } from 'vitest';
import { OftsrError } from '@oftsr/shared';
import { AUTH_HEADERS, checkAuth, signRequest } from './request-signing.ts';
import type { AuthSettings } from './request-signing.ts';

const settings: AuthSettings = {
  tokens: ['token-one-0123456789', 'token-two-0123456789'],
  hmacSecret: 'hmac-secret-0123456789abcdef',
  maxSkewS: 300,
  disabled: false,
};

function request(headers: Record<string, string>, method = 'POST', pathAndQuery = '/v1/upscale?t=0.7') {
  return { method, pathAndQuery, header: (name: string) => headers[name.toLowerCase()] };
}

function rejects(fn: () => void): OftsrError {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(OftsrError);
    expect((err as OftsrError).status).toBe(401);
    return err as OftsrError;
  }
  throw new Error('expected a 401');
}

describe('checkAuth', () => {
  it('accepts any configured bearer token and rejects others', () => {
    checkAuth(settings, request({ authorization: 'Bearer token-two-0123456789' }));
    expect(
      rejects(() => checkAuth(settings, request({ authorization: 'Bearer token-three-012345' }))).message,
    ).toMatch(/invalid bearer/);
    expect(rejects(() => checkAuth(settings, request({ authorization: 'Basic abc' }))).message).toMatch(
      /Bearer/,
    );
    expect(rejects(() => checkAuth(settings, request({}))).message).toMatch(/missing credentials/);
  });

  it('accepts a fresh HMAC signature over method, path, query and body hash', () => {
    const body = new TextEncoder().encode('pixels');
    const now = 1_800_000_000;
    const headers = signRequest(settings.hmacSecret as string, 'POST', '/v1/upscale?t=0.7', body, now);
    checkAuth(settings, request(headers), now + 10);
    // Any change to what was signed breaks it.
    rejects(() => checkAuth(settings, request(headers, 'POST', '/v1/upscale?t=0.8'), now));
    rejects(() => checkAuth(settings, request(headers, 'PUT'), now));
    rejects(() =>
      checkAuth(settings, request({ ...headers, [AUTH_HEADERS.contentSha256]: 'a'.repeat(64) }), now),
    );
    expect(rejects(() => checkAuth(settings, request(headers), now + 301)).message).toMatch(/300 s/);
    rejects(() => checkAuth({ ...settings, hmacSecret: undefined }, request(headers), now));
  });

  it('lets everything through when disabled', () => {
    checkAuth({ ...settings, disabled: true }, request({}));
  });
});
