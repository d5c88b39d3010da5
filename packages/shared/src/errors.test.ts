import { describe, expect, it } from 'vitest';
import { ErrorBody, OftsrError, errorStatus, toErrorBody } from './errors.ts';

describe('OftsrError', () => {
  it('defaults the status from the code', () => {
    expect(new OftsrError('bad_param', 'x').status).toBe(400);
    expect(new OftsrError('too_large', 'x').status).toBe(413);
    expect(new OftsrError('model_contract', 'x').status).toBe(500);
    expect(new OftsrError('bad_param', 'x', { status: 422 }).status).toBe(422);
  });

  it('is an Error with a name and a cause', () => {
    const cause = new Error('root');
    const err = new OftsrError('internal', 'boom', { cause });
    expect(err).toBeInstanceOf(Error);
    expect(err.name).toBe('OftsrError');
    expect(err.cause).toBe(cause);
  });
});

describe('toErrorBody', () => {
  it('keeps field and allowed and validates against ErrorBody', () => {
    const body = toErrorBody(new OftsrError('bad_param', 'bad t', { field: 't', allowed: '[0, 1]' }));
    expect(body).toEqual({ error: { code: 'bad_param', message: 'bad t', field: 't', allowed: '[0, 1]' } });
    expect(ErrorBody.parse(body)).toEqual(body);
  });

  it('omits absent optional keys', () => {
    expect(toErrorBody(new OftsrError('bad_image', 'nope'))).toEqual({
      error: { code: 'bad_image', message: 'nope' },
    });
  });

  it('hides the message of foreign errors', () => {
    const body = toErrorBody(new Error('/secret/path failed'));
    expect(body).toEqual({ error: { code: 'internal', message: 'internal error' } });
    expect(errorStatus(new Error('x'))).toBe(500);
    expect(errorStatus(new OftsrError('timeout', 'x'))).toBe(504);
  });

  it('rejects unknown codes and extra keys', () => {
    expect(ErrorBody.safeParse({ error: { code: 'nope', message: '' } }).success).toBe(false);
    expect(ErrorBody.safeParse({ error: { code: 'internal', message: '', extra: 1 } }).success).toBe(false);
  });
});
