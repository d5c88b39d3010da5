/**
 * Request authentication between the edge and the runner: a shared-secret bearer token, or an
 * HMAC-SHA256 signature over the request line, a timestamp and the body's SHA-256. Comparisons are
 * constant-time (digests of equal length through `timingSafeEqual`). No HTTP framework types here.
 */
import { createHash, createHmac, timingSafeEqual } from 'node:crypto';
import { HEADERS, OftsrError } from '@oftsr/shared';

/** Headers of the HMAC scheme (their names are the shared wire's). */
export const AUTH_HEADERS = {
  timestamp: HEADERS.timestamp,
  signature: HEADERS.signature,
  contentSha256: HEADERS.contentSha256,
} as const;

/** SHA-256 of the empty body, for requests without one. */
export const EMPTY_SHA256 = createHash('sha256').update('').digest('hex');

/** What {@link checkAuth} needs to know. */
export interface AuthSettings {
  tokens: readonly string[];
  hmacSecret: string | undefined;
  maxSkewS: number;
  disabled: boolean;
}

/** The parts of a request the check reads. */
export interface AuthRequest {
  method: string;
  /** Path plus query string, exactly as sent, e.g. `/v1/upscale?t=0.7`. */
  pathAndQuery: string;
  header(name: string): string | undefined;
}

/**
 * The string an HMAC signs: `timestamp \n METHOD \n path?query \n hex sha256(body)`.
 */
export function canonicalRequest(
  timestamp: string,
  method: string,
  pathAndQuery: string,
  bodySha256: string,
): string {
  return `${timestamp}\n${method.toUpperCase()}\n${pathAndQuery}\n${bodySha256}`;
}

function safeEqual(a: string, b: string): boolean {
  const da = createHash('sha256').update(a).digest();
  const db = createHash('sha256').update(b).digest();
  return timingSafeEqual(da, db);
}

function unauthorized(message: string): OftsrError {
  return new OftsrError('unauthorized', message);
}

/**
 * Accepts the request or throws. A bearer token must equal one of `tokens` (several allow
 * rotation); an HMAC request needs the three {@link AUTH_HEADERS}, a timestamp within `maxSkewS`
 * of `nowS`, and a signature over {@link canonicalRequest}. The body's hash header is checked
 * against the actual body where the body is read (see `readBody` in body.ts).
 *
 * @throws OftsrError `unauthorized` (401) saying what is missing or wrong, never what was expected.
 */
export function checkAuth(settings: AuthSettings, req: AuthRequest, nowS = Date.now() / 1000): void {
  if (settings.disabled) return;
  const authorization = req.header('authorization');
  if (authorization !== undefined) {
    const match = /^Bearer\s+(\S+)\s*$/i.exec(authorization);
    if (!match) throw unauthorized('Authorization must be "Bearer <token>"');
    const token = match[1] as string;
    // Compare against every configured token so the time taken does not reveal which matched.
    let ok = false;
    for (const candidate of settings.tokens) ok = safeEqual(token, candidate) || ok;
    if (!ok) throw unauthorized('invalid bearer token');
    return;
  }
  const signature = req.header(AUTH_HEADERS.signature);
  if (signature === undefined) {
    throw unauthorized(
      `missing credentials: send "Authorization: Bearer <token>" or an ${AUTH_HEADERS.signature}`,
    );
  }
  if (!settings.hmacSecret) throw unauthorized('HMAC signatures are not enabled on this runner');
  const timestamp = req.header(AUTH_HEADERS.timestamp);
  const bodySha = req.header(AUTH_HEADERS.contentSha256);
  if (timestamp === undefined || !/^[0-9]{1,12}$/.test(timestamp)) {
    throw unauthorized(`${AUTH_HEADERS.timestamp} must be the Unix time in seconds`);
  }
  if (Math.abs(nowS - Number(timestamp)) > settings.maxSkewS) {
    throw unauthorized(
      `${AUTH_HEADERS.timestamp} is more than ${settings.maxSkewS} s from the runner's clock`,
    );
  }
  if (bodySha === undefined || !/^[0-9a-f]{64}$/.test(bodySha)) {
    throw unauthorized(`${AUTH_HEADERS.contentSha256} must be the lowercase hex SHA-256 of the body`);
  }
  const want = createHmac('sha256', settings.hmacSecret)
    .update(canonicalRequest(timestamp, req.method, req.pathAndQuery, bodySha))
    .digest('hex');
  if (!safeEqual(signature.toLowerCase(), want)) throw unauthorized('invalid signature');
}

/**
 * The headers a caller adds to sign a request (the edge does this; tests and the bench too).
 *
 * @example
 * fetch(url, { method: 'POST', body, headers: { ...signRequest(secret, 'POST', '/v1/upscale?t=0.7', body) } });
 */
export function signRequest(
  secret: string,
  method: string,
  pathAndQuery: string,
  body: Uint8Array | undefined,
  nowS = Math.floor(Date.now() / 1000),
): Record<string, string> {
  const bodySha = body ? createHash('sha256').update(body).digest('hex') : EMPTY_SHA256;
  const timestamp = String(nowS);
  const signature = createHmac('sha256', secret)
    .update(canonicalRequest(timestamp, method, pathAndQuery, bodySha))
    .digest('hex');
  return {
    [AUTH_HEADERS.timestamp]: timestamp,
    [AUTH_HEADERS.contentSha256]: bodySha,
    [AUTH_HEADERS.signature]: signature,
  };
}
