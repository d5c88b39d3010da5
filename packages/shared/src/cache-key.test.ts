import { describe, expect, it } from 'vitest';
import { OftsrError } from './errors.ts';
import { cacheKey } from './cache-key.ts';
import { parseParamsFromQuery } from './schemas.ts';

const params = parseParamsFromQuery(new URLSearchParams('sr=4&t=0.7&seed=1'));
const base = {
  params,
  source: { kind: 'url' as const, url: 'https://img.example.com/photos/cat.jpg', etag: '"abc"' },
  modelVersion: 'oftsr-x4-2026.11.0',
};

describe('cacheKey', () => {
  it('is stable: a change here means every cached image is orphaned, bump CACHE_KEY_VERSION', async () => {
    await expect(cacheKey(base)).resolves.toBe(
      '85f6d1f2cc8dbd69436821b427d1c47ef53c490c1504a2f7a1270cd1d1fae6c8',
    );
  });

  it('is lowercase hex sha256', async () => {
    expect(await cacheKey(base)).toMatch(/^[0-9a-f]{64}$/);
  });

  it('gives two spellings of the same request the same key', async () => {
    const other = parseParamsFromQuery(new URLSearchParams('seed=1&t=0.71&q=85&utm=x'));
    const url = 'HTTPS://IMG.example.com:443/photos/./cat.jpg';
    expect(await cacheKey({ ...base, params: other, source: { ...base.source, url } })).toBe(
      await cacheKey(base),
    );
  });

  it('changes with the model version, the etag, last-modified, params and url', async () => {
    const key = await cacheKey(base);
    const variants = await Promise.all([
      cacheKey({ ...base, modelVersion: 'oftsr-x4-2026.11.1' }),
      cacheKey({ ...base, source: { ...base.source, etag: '"abd"' } }),
      cacheKey({ ...base, source: { ...base.source, lastModified: 'Sat, 01 Nov 2026 00:00:00 GMT' } }),
      cacheKey({ ...base, params: { ...params, t: 0.75 } }),
      cacheKey({ ...base, source: { ...base.source, url: 'https://img.example.com/photos/dog.jpg' } }),
    ]);
    expect(new Set([key, ...variants]).size).toBe(variants.length + 1);
  });

  it('keys content sources by their sha256, case-insensitively', async () => {
    const sha = 'AB'.repeat(32);
    const a = await cacheKey({ ...base, source: { kind: 'content', sha256: sha } });
    const b = await cacheKey({ ...base, source: { kind: 'content', sha256: sha.toLowerCase() } });
    expect(a).toBe(b);
    expect(a).not.toBe(await cacheKey(base));
  });

  it('rejects bad sources', async () => {
    await expect(cacheKey({ ...base, source: { kind: 'url', url: '/relative' } })).rejects.toBeInstanceOf(
      OftsrError,
    );
    await expect(cacheKey({ ...base, source: { kind: 'content', sha256: 'xyz' } })).rejects.toThrow(/64 hex/);
  });

  it('a changed validator is another key: a replaced source is never served its old output', async () => {
    const url = 'https://img.example.com/photos/cat.jpg';
    const keys = await Promise.all(
      [
        { kind: 'url' as const, url, etag: '"a"' },
        { kind: 'url' as const, url, etag: '"b"' },
        { kind: 'url' as const, url, lastModified: 'Tue, 01 Dec 2026 10:00:00 GMT', length: 10 },
        { kind: 'url' as const, url, lastModified: 'Tue, 01 Dec 2026 10:00:00 GMT', length: 11 },
        { kind: 'url' as const, url, sha256: 'a'.repeat(64) },
        { kind: 'url' as const, url, sha256: 'b'.repeat(64) },
        { kind: 'content' as const, sha256: 'a'.repeat(64) },
      ].map((source) => cacheKey({ ...base, source })),
    );
    expect(new Set(keys).size).toBe(keys.length);
  });
});
