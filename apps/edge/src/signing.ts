// Signed URLs: HMAC-SHA256 over the path and the canonical query, base64url in `sig`, optional
// expiry in `exp` (Unix seconds, itself signed). Several keys verify, so keys rotate without
// breaking issued URLs: add the new key first, re-sign, then drop the old one.

import { canonicalSourcePath } from '@oftsr/shared';

/** Query key carrying the signature. */
export const SIG_PARAM = 'sig';
/** Query key carrying the expiry (Unix seconds). */
export const EXP_PARAM = 'exp';

const encoder = new TextEncoder();
// Spelled through `crypto.subtle` rather than `CryptoKey`: this file also runs in Node (the
// pre-warm script signs URLs), whose type library has no global `CryptoKey`.
type HmacKey = Awaited<ReturnType<typeof crypto.subtle.importKey>>;
const keyCache = new Map<string, Promise<HmacKey>>();

function hmacKey(secret: string): Promise<HmacKey> {
  let key = keyCache.get(secret);
  if (key === undefined) {
    key = crypto.subtle.importKey('raw', encoder.encode(secret), { name: 'HMAC', hash: 'SHA-256' }, false, [
      'sign',
      'verify',
    ]);
    keyCache.set(secret, key);
  }
  return key;
}

function toBase64Url(bytes: ArrayBuffer): string {
  let text = '';
  for (const b of new Uint8Array(bytes)) text += String.fromCharCode(b);
  return btoa(text).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
}

function fromBase64Url(text: string): Uint8Array | undefined {
  if (!/^[A-Za-z0-9_-]{43}$/.test(text)) return undefined; // 32 bytes, unpadded
  const binary = atob(text.replace(/-/g, '+').replace(/_/g, '/') + '=');
  return Uint8Array.from(binary, (c) => c.charCodeAt(0));
}

/**
 * The signed text of a URL: its canonical path (`canonicalSourcePath`, so every spelling of one
 * image verifies alike and none mints a new key), `?`, then every query pair except
 * `sig`, sorted by key then value and percent-encoded with `encodeURIComponent`. Sorting makes the
 * signature independent of parameter order; unknown keys are signed too.
 *
 * @example canonicalSigningInput(new URL('https://x/a.jpg?t=0.7&sr=4')) // '/a.jpg?sr=4&t=0.7'
 */
export function canonicalSigningInput(url: URL): string {
  const pairs = [...url.searchParams].filter(([k]) => k !== SIG_PARAM);
  pairs.sort(([ka, va], [kb, vb]) => (ka < kb ? -1 : ka > kb ? 1 : va < vb ? -1 : va > vb ? 1 : 0));
  const query = pairs.map(([k, v]) => `${encodeURIComponent(k)}=${encodeURIComponent(v)}`).join('&');
  return `${canonicalSourcePath(url.pathname)}?${query}`;
}

/**
 * Signs a URL with `secret`, adding `exp` when `expiresAt` (Unix seconds) is given.
 *
 * @example await signUrl('https://img.example.com/cat.jpg?sr=4&t=0.7', key, { expiresAt: 1_900_000_000 })
 */
export async function signUrl(
  url: string | URL,
  secret: string,
  options: { expiresAt?: number } = {},
): Promise<string> {
  const u = new URL(url);
  u.searchParams.delete(SIG_PARAM);
  if (options.expiresAt !== undefined) u.searchParams.set(EXP_PARAM, String(Math.floor(options.expiresAt)));
  const mac = await crypto.subtle.sign(
    'HMAC',
    await hmacKey(secret),
    encoder.encode(canonicalSigningInput(u)),
  );
  u.searchParams.append(SIG_PARAM, toBase64Url(mac));
  return u.href;
}

/** The outcome of {@link verifySignedUrl}. */
export type SignatureCheck =
  { status: 'unsigned' } | { status: 'valid'; keyIndex: number } | { status: 'invalid'; reason: string };

/**
 * Checks a URL's `sig` against every key (constant-time compare via `crypto.subtle.verify`), then
 * its `exp` against `nowS`. A URL without `sig` is `unsigned`; what that allows is the caller's call.
 */
export async function verifySignedUrl(
  url: URL,
  secrets: readonly string[],
  nowS: number,
): Promise<SignatureCheck> {
  const sigs = url.searchParams.getAll(SIG_PARAM);
  if (sigs.length === 0) return { status: 'unsigned' };
  if (sigs.length > 1) return { status: 'invalid', reason: 'sig given more than once' };
  const mac = fromBase64Url(sigs[0] ?? '');
  if (mac === undefined) return { status: 'invalid', reason: 'sig is not a base64url HMAC-SHA256' };
  const data = encoder.encode(canonicalSigningInput(url));
  let keyIndex = -1;
  for (const [i, secret] of secrets.entries()) {
    if (await crypto.subtle.verify('HMAC', await hmacKey(secret), mac, data)) {
      keyIndex = i;
      break;
    }
  }
  if (keyIndex < 0) return { status: 'invalid', reason: 'signature does not match' };
  const exps = url.searchParams.getAll(EXP_PARAM);
  if (exps.length > 1) return { status: 'invalid', reason: 'exp given more than once' };
  if (exps.length === 1) {
    const exp = exps[0] ?? '';
    if (!/^[0-9]{1,12}$/.test(exp)) return { status: 'invalid', reason: 'exp must be Unix seconds' };
    if (Number(exp) < nowS) return { status: 'invalid', reason: 'signature expired' };
  }
  return { status: 'valid', keyIndex };
}
