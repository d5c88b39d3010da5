/**
 * The runner's additions to the shared {@link OftsrError}: a Retry-After hint for 429/503, and the
 * re-mapping of image errors to 422 (the body arrived and was the right type, but is not an image we
 * can process). The shared codes stay the same, so callers branch on `error.code` as everywhere.
 */
import { OftsrError } from '@oftsr/shared';
import type { ErrorCode } from '@oftsr/shared';

/** An error that tells the caller when to try again (`Retry-After`, seconds). */
export class RetryLaterError extends OftsrError {
  readonly retryAfterS: number;

  constructor(code: ErrorCode, message: string, retryAfterS: number) {
    super(code, message);
    this.name = 'RetryLaterError';
    this.retryAfterS = Math.max(1, Math.ceil(retryAfterS));
  }
}

/**
 * Decode-stage failures as 422: `bad_image` (truncated, corrupt, empty), `unsupported_format`
 * (animated, a format the runner does not take) and `too_large` in pixels (naming the limit; an
 * error that already names its own setting keeps it).
 */
export function unprocessable(err: unknown, maxPixels: number): unknown {
  if (!(err instanceof OftsrError)) return err;
  if (err.code === 'too_large' && err.field === undefined) {
    return new OftsrError('too_large', `${err.message} (OFTSR_MAX_INPUT_MEGAPIXELS)`, {
      status: 422,
      field: 'OFTSR_MAX_INPUT_MEGAPIXELS',
      allowed: `at most ${maxPixels} pixels (width × height)`,
      cause: err,
    });
  }
  if (err.code === 'bad_image' || err.code === 'unsupported_format') {
    return new OftsrError(err.code, err.message, { status: 422, cause: err });
  }
  return err;
}
