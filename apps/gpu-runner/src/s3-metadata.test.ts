import { describe, expect, it } from 'vitest';
import { encodeMetadataValue, storageError } from './s3.ts';

describe('encodeMetadataValue', () => {
  it('keeps printable ASCII, percent-encodes the rest and %, and round-trips', () => {
    expect(encodeMetadataValue('format=png&q=85')).toBe('format=png&q=85');
    for (const value of ['b/src/ü-日本.png', '100% done', 'tab\there', 'emoji 😀']) {
      const encoded = encodeMetadataValue(value);
      expect(encoded).toMatch(/^[\x20-\x7e]*$/);
      expect(decodeURIComponent(encoded)).toBe(value);
    }
    expect(encodeMetadataValue('lone \ud800')).toBe('lone %EF%BF%BD');
  });
});

describe('storageError', () => {
  it('a request Node refuses to build is not retryable', () => {
    const invalid = Object.assign(new TypeError('Invalid character in header content'), {
      code: 'ERR_INVALID_CHAR',
    });
    expect(storageError('write', 's3://b/k', invalid).retryable).toBe(false);
    const refused = Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' });
    expect(storageError('write', 's3://b/k', refused).retryable).toBe(true);
  });
});
