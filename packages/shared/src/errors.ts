import { z } from 'zod';

/**
 * Every machine-readable error code an oftsr service or the SDK can report. Kept in one place so the
 * edge, the runner and the client-sdk agree on spelling.
 */
export const ErrorCode = {
  /** A request parameter is missing, malformed or out of range. */
  bad_param: 'bad_param',
  /** The source image could not be decoded. */
  bad_image: 'bad_image',
  /** The requested or source image format is not supported. */
  unsupported_format: 'unsupported_format',
  /** The source image or request body exceeds the size limit. */
  too_large: 'too_large',
  /** The model file or manifest does not match the I/O contract. */
  model_contract: 'model_contract',
  /** The request carries no valid credentials (bearer token or HMAC signature). */
  unauthorized: 'unauthorized',
  /** No such resource (e.g. an unknown job id or route). */
  not_found: 'not_found',
  /** The service's queue is full; retry after the `Retry-After` seconds. */
  overloaded: 'overloaded',
  /** The service is starting, draining or not ready; retry elsewhere or later. */
  unavailable: 'unavailable',
  /** The upstream (runner or origin) failed. */
  upstream: 'upstream',
  /** The upstream did not answer in time. */
  timeout: 'timeout',
  /** The route exists in the plan but is not built yet. */
  not_implemented: 'not_implemented',
  /** Anything unexpected; details are logged, never sent. */
  internal: 'internal',
} as const;

/** One of the {@link ErrorCode} values. */
export type ErrorCode = (typeof ErrorCode)[keyof typeof ErrorCode];

const DEFAULT_STATUS: Record<ErrorCode, number> = {
  bad_param: 400,
  bad_image: 400,
  unsupported_format: 415,
  too_large: 413,
  model_contract: 500,
  unauthorized: 401,
  not_found: 404,
  overloaded: 429,
  unavailable: 503,
  upstream: 502,
  timeout: 504,
  not_implemented: 501,
  internal: 500,
};

/** Options for {@link OftsrError}; `status` defaults per code (e.g. bad_param → 400). */
export interface OftsrErrorOptions {
  status?: number;
  field?: string;
  allowed?: string;
  cause?: unknown;
}

/**
 * The one error type of oftsr: carries an HTTP status and, for parameter errors, the offending field
 * and the allowed values, so `app.onError` can answer with {@link toErrorBody} without guessing.
 *
 * @example
 * throw new OftsrError('bad_param', 't must be a number in [0, 1] (got "2")', { field: 't', allowed: '[0, 1]' });
 */
export class OftsrError extends Error {
  readonly code: ErrorCode;
  readonly status: number;
  readonly field?: string;
  readonly allowed?: string;

  constructor(code: ErrorCode, message: string, options: OftsrErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'OftsrError';
    this.code = code;
    this.status = options.status ?? DEFAULT_STATUS[code];
    if (options.field !== undefined) this.field = options.field;
    if (options.allowed !== undefined) this.allowed = options.allowed;
  }
}

/** The JSON body of every error response: `{ error: { code, message, field?, allowed? } }`. */
export const ErrorBody = z.strictObject({
  error: z.strictObject({
    code: z.enum(ErrorCode),
    message: z.string(),
    field: z.string().optional(),
    allowed: z.string().optional(),
  }),
});

/** The parsed type of {@link ErrorBody}. */
export type ErrorBody = z.infer<typeof ErrorBody>;

/**
 * Turns anything thrown into an {@link ErrorBody}. Non-oftsr errors become `internal` with a generic
 * message, because their text may leak internals (paths, upstream URLs).
 */
export function toErrorBody(err: unknown): ErrorBody {
  if (err instanceof OftsrError) {
    return {
      error: {
        code: err.code,
        message: err.message,
        ...(err.field === undefined ? {} : { field: err.field }),
        ...(err.allowed === undefined ? {} : { allowed: err.allowed }),
      },
    };
  }
  return { error: { code: 'internal', message: 'internal error' } };
}

/** The HTTP status to answer for anything thrown: the {@link OftsrError}'s own, else 500. */
export function errorStatus(err: unknown): number {
  return err instanceof OftsrError ? err.status : 500;
}
