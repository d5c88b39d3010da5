import { OftsrError } from './errors.ts';
import { canonicalizeParams, type RequestParams } from './schemas.ts';
import { sha256Hex, web } from './web.ts';

/**
 * Bumped whenever the serialisation below changes, so old and new keys can never collide
 * (a cached image made under another meaning of the key must not be served).
 */
export const CACHE_KEY_VERSION = 2;

/**
 * Where the source image comes from: an origin URL with the validator of the version used (a strong
 * ETag, else Last-Modified with the length, else the bytes' SHA-256), or known bytes alone.
 */
export type SourceIdentity =
  | { kind: 'url'; url: string; etag?: string; lastModified?: string; length?: number; sha256?: string }
  | { kind: 'content'; sha256: string };

/** Everything that determines an output image. */
export interface CacheKeyInput {
  params: RequestParams;
  source: SourceIdentity;
  modelVersion: string;
}

const SHA256_HEX = /^[0-9a-fA-F]{64}$/;

function sourceParts(source: SourceIdentity): (string | number | null)[] {
  if (source.kind === 'content') {
    if (!SHA256_HEX.test(source.sha256)) {
      throw new OftsrError('bad_param', 'source sha256 must be 64 hex digits', { field: 'sha256' });
    }
    return ['content', source.sha256.toLowerCase()];
  }
  let href: string;
  try {
    // new URL() lowercases scheme and host, drops default ports and normalises the path's dots and
    // escapes, so trivially different spellings of one origin URL share a key.
    href = new web.URL(source.url).href;
  } catch (cause) {
    throw new OftsrError(
      'bad_param',
      `source url is not a valid absolute URL (got ${JSON.stringify(source.url)})`,
      {
        field: 'url',
        cause,
      },
    );
  }
  if (source.sha256 !== undefined && !SHA256_HEX.test(source.sha256)) {
    throw new OftsrError('bad_param', 'source sha256 must be 64 hex digits', { field: 'sha256' });
  }
  return [
    'url',
    href,
    source.etag ?? null,
    source.lastModified ?? null,
    source.length ?? null,
    source.sha256?.toLowerCase() ?? null,
  ];
}

/**
 * The cache key of an output image: lowercase hex SHA-256 over a versioned JSON array of the
 * canonical params, the source identity and the model version. JSON (not string concatenation)
 * keeps fields from bleeding into each other whatever characters a URL or ETag holds.
 *
 * @example await cacheKey({ params, source: { kind: 'url', url, etag }, modelVersion: '2026.11.0' })
 * @throws {OftsrError} `bad_param` for an invalid URL or sha256.
 */
export async function cacheKey(input: CacheKeyInput): Promise<string> {
  const serialised = JSON.stringify([
    `oftsr-cache-key/${CACHE_KEY_VERSION}`,
    canonicalizeParams(input.params),
    sourceParts(input.source),
    input.modelVersion,
  ]);
  return sha256Hex(serialised);
}
