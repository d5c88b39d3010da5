// Source freshness, as CDNs keep it: the cache key holds the source's validator (a strong ETag,
// else Last-Modified + length, else the content's SHA-256), so a replaced source is a new key and
// never its old output. A source record (validator, size, type, when checked) lives in R2 for
// SOURCE_TTL_S: inside it hits are origin-free; after it one conditional request revalidates, and a
// 304 keeps the key. An authenticated purge drops the record. Old outputs, no longer reachable, are
// removed by the cache bucket's lifecycle rule (infra/r2/).

import type { SourceIdentity } from '@oftsr/shared';
import type { Bindings } from './bindings.ts';
import type { SourceLocation } from './source-location.ts';

/** What identifies one version of a source. */
export type Validator = { etag: string } | { lastModified: string; length: number } | { sha256: string };

/** What the edge remembers of a source between requests. */
export interface SourceRecord {
  validator: Validator;
  size: number;
  contentType: string;
  /** When the origin last confirmed it (ms since the epoch). */
  checkedAt: number;
}

/** Header-ish view of where the bytes came from (an origin response or an R2 object). */
export interface ValidatorSource {
  etag?: string | null;
  lastModified?: string | null;
}

async function sha256Hex(data: Uint8Array | string): Promise<string> {
  const bytes = typeof data === 'string' ? new TextEncoder().encode(data) : data;
  const digest = await crypto.subtle.digest('SHA-256', bytes);
  return Array.from(new Uint8Array(digest), (b) => b.toString(16).padStart(2, '0')).join('');
}

/**
 * The validator of fetched bytes: a strong ETag when the origin sent one (a weak `W/` one names
 * equivalent, not identical, bytes and cannot key exact outputs), else Last-Modified with the byte
 * length, else the bytes' SHA-256.
 */
export async function validatorOf(from: ValidatorSource, bytes: Uint8Array): Promise<Validator> {
  const etag = from.etag?.trim();
  if (etag !== undefined && etag !== '' && !etag.startsWith('W/')) return { etag };
  const lastModified = from.lastModified?.trim();
  if (lastModified !== undefined && lastModified !== '') return { lastModified, length: bytes.length };
  return { sha256: await sha256Hex(bytes) };
}

/** Whether two validators name the same version. */
export function sameValidator(a: Validator, b: Validator): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}

/** The cache-key identity of a located source at one version. */
export function identityOf(location: SourceLocation, validator: Validator): SourceIdentity {
  const { identity } = location;
  if (identity.kind !== 'url') return identity;
  const { url } = identity;
  if ('sha256' in validator) return { kind: 'url', url, sha256: validator.sha256 };
  return 'etag' in validator
    ? { kind: 'url', url, etag: validator.etag }
    : { kind: 'url', url, lastModified: validator.lastModified, length: validator.length };
}

/** Request headers that ask the origin whether `validator` is still current. */
export function conditionalHeaders(validator: Validator): Record<string, string> {
  if ('etag' in validator) return { 'if-none-match': validator.etag };
  if ('lastModified' in validator) return { 'if-modified-since': validator.lastModified };
  return {};
}

async function recordKey(location: SourceLocation): Promise<string> {
  const name = location.identity.kind === 'url' ? location.identity.url : location.identity.sha256;
  const hash = await sha256Hex(name);
  return `src/v1/${hash.slice(0, 2)}/${hash}`;
}

function parseRecord(text: string): SourceRecord | undefined {
  try {
    const value = JSON.parse(text) as Partial<SourceRecord>;
    const v = value.validator as Record<string, unknown> | undefined;
    const valid =
      typeof value.checkedAt === 'number' &&
      typeof value.size === 'number' &&
      typeof value.contentType === 'string' &&
      v !== undefined &&
      (typeof v.etag === 'string' ||
        typeof v.sha256 === 'string' ||
        (typeof v.lastModified === 'string' && typeof v.length === 'number'));
    return valid ? (value as SourceRecord) : undefined;
  } catch {
    return undefined;
  }
}

/** The stored record of a source, or undefined (none, or unreadable: then the source is fetched). */
export async function readRecord(env: Bindings, location: SourceLocation): Promise<SourceRecord | undefined> {
  const object = await env.CACHE_BUCKET.get(await recordKey(location));
  return object === null ? undefined : parseRecord(await object.text());
}

/** Stores a source record (last writer wins: every writer saw the origin at that moment). */
export async function writeRecord(
  env: Bindings,
  location: SourceLocation,
  record: SourceRecord,
): Promise<void> {
  await env.CACHE_BUCKET.put(await recordKey(location), JSON.stringify(record), {
    httpMetadata: { contentType: 'application/json' },
  });
}

/** Drops a source record: the next request fetches the source again. */
export async function purgeRecord(env: Bindings, location: SourceLocation): Promise<void> {
  await env.CACHE_BUCKET.delete(await recordKey(location));
}
