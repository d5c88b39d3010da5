import type { MiddlewareHandler } from 'hono';
import { checkAuth } from '../request-signing.ts';
import type { AuthSettings } from '../request-signing.ts';

/**
 * Requires a bearer token or an HMAC signature (see ../request-signing.ts) on every request it is mounted on.
 *
 * @example app.use('/v1/*', requireAuth(config.auth));
 */
export function requireAuth(settings: AuthSettings): MiddlewareHandler {
  return async function auth(c, next) {
    const url = new URL(c.req.url);
    checkAuth(settings, {
      method: c.req.method,
      pathAndQuery: url.pathname + url.search,
      header: (name) => c.req.header(name),
    });
    await next();
  };
}
