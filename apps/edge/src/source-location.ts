import type { SourceIdentity } from '@oftsr/shared';

/**
 * Where a request path's source image lives, and its identity for the cache key. Its own module, so
 * that source.ts (which fetches) and freshness.ts (which records versions) both use it without
 * importing each other in a circle.
 */
export interface SourceLocation {
  /** Key in `SOURCE_BUCKET`, tried first when the bucket is bound. */
  r2Key?: string;
  /** URL under `ORIGIN_URL`, tried when R2 has no object (or is not bound). */
  originUrl?: URL;
  identity: SourceIdentity;
}
