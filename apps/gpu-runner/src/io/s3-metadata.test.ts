import { describe, expect, it } from 'vitest';
import { storageError } from './s3.ts';

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
