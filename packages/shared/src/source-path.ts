import { OftsrError } from './errors.ts';

// RFC 3986 §2.3: escapes of these characters mean the character itself (§6.2.2.2).
const UNRESERVED = /^[A-Za-z0-9\-._~]$/;

function badPath(message: string): OftsrError {
  return new OftsrError('bad_param', message, { field: 'path' });
}

/**
 * The one spelling of a source path (a URL pathname as sent, percent-encoded), so every spelling of
 * one image gives one signature input, one cache key and one fetch:
 * - an escape of an unreserved character becomes the character (`%6C` → `l`, `%2D` → `-`);
 * - every other escape is written with upper-case hex (`%c3%bc` → `%C3%BC`);
 * - runs of `/` become one (`//a///b` → `/a/b`);
 * - a dot segment (`.` or `..`, also when spelled `%2E`) is refused. The URL standard resolves
 *   literal and `%2E` dot segments before a server sees the path (`/a/../b` arrives as `/b`), so
 *   only what survives that parse reaches this check.
 *
 * Idempotent: `canonicalSourcePath(canonicalSourcePath(p)) === canonicalSourcePath(p)`.
 *
 * @example canonicalSourcePath('//photos/%6candscape%2d1.png') // '/photos/landscape-1.png'
 * @throws {OftsrError} 400 `bad_param` (field `path`) for a malformed escape or a dot segment.
 */
export function canonicalSourcePath(pathname: string): string {
  const spelled = pathname.replace(/%([0-9A-Fa-f]{2})|%/g, (escape: string, hex: string | undefined) => {
    if (hex === undefined) throw badPath('the path holds a malformed percent-escape');
    const char = String.fromCharCode(parseInt(hex, 16));
    return UNRESERVED.test(char) ? char : `%${hex.toUpperCase()}`;
  });
  const merged = spelled.replace(/\/{2,}/g, '/');
  const path = merged.startsWith('/') ? merged : `/${merged}`;
  if (path.split('/').some((segment) => segment === '.' || segment === '..')) {
    throw badPath('the path holds a dot segment');
  }
  return path;
}
