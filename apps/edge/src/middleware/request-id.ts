import type { MiddlewareHandler } from 'hono';
import { HEADERS } from '@oftsr/shared';

/** Context variables set by {@link requestId}. */
export interface RequestIdVariables {
  requestId: string;
}

const VALID_ID = /^[A-Za-z0-9._:-]{1,128}$/;

/**
 * Takes `X-Request-Id` from the request when it is well formed, else makes one, stores it as
 * `c.get('requestId')` and echoes it on the response. It is forwarded to the runner.
 *
 * @example app.use(requestId())
 */
export function requestId(): MiddlewareHandler<{ Variables: RequestIdVariables }> {
  return async function requestId(c, next) {
    const given = c.req.header(HEADERS.requestId);
    const id = given !== undefined && VALID_ID.test(given) ? given : crypto.randomUUID();
    c.set('requestId', id);
    await next();
    c.res.headers.set(HEADERS.requestId, id);
  };
}
