import { cors as honoCors } from 'hono/cors';
import type { MiddlewareHandler } from 'hono';
import { HEADERS } from '@oftsr/shared';
import type { Bindings } from '../bindings.ts';
import { readConfig } from '../config.ts';

/**
 * Response headers a page on another origin may read: the client SDK's cloud path needs the cache
 * status (a fallback is a failure to it) and where the work ran; the rest are for tooling.
 */
export const EXPOSED_HEADERS = [
  HEADERS.cache,
  HEADERS.ignoredParams,
  HEADERS.cacheTier,
  HEADERS.fallbackReason,
  HEADERS.modelVersion,
  HEADERS.executionProvider,
  HEADERS.requestId,
  'etag',
] as const;

/**
 * CORS from `CORS_ALLOW_ORIGINS` (hono's `cors`): off when empty, `*` for any page, else the
 * listed origins (answered per request, with `Vary: Origin`). Only GET/HEAD are offered; the
 * preflight is answered before signature checks so a signed URL's preflight never needs a
 * signature. Credentials are never allowed: results are public and the same for everyone.
 */
export function cors(): MiddlewareHandler<{ Bindings: Bindings }> {
  const byConfig = new WeakMap<object, MiddlewareHandler>();
  return async function corsByConfig(c, next) {
    const config = readConfig(c.env);
    if (config.corsOrigins === undefined) return next();
    let handler = byConfig.get(config);
    if (handler === undefined) {
      handler = honoCors({
        origin: config.corsOrigins === '*' ? '*' : [...config.corsOrigins],
        allowMethods: ['GET', 'HEAD'],
        exposeHeaders: [...EXPOSED_HEADERS],
        maxAge: 86_400,
      });
      byConfig.set(config, handler);
    }
    return handler(c, next);
  };
}
