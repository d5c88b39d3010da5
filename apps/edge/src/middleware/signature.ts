import { OftsrError } from '@oftsr/shared';
import type { MiddlewareHandler } from 'hono';
import type { Bindings } from '../bindings.ts';
import { readConfig } from '../config.ts';
import { verifySignedUrl } from '../signing.ts';

/** Context variables set by {@link signature}. */
export interface SignatureVariables {
  /** True when the URL carries a valid, unexpired signature. */
  signed: boolean;
}

/**
 * Verifies `sig` (and `exp`) against every key in `SIGNING_KEYS`. A wrong, malformed or expired
 * signature is refused with 403 whatever the signing mode; an absent one sets `signed = false`
 * and leaves the policy to the route (see `resolveParams`).
 *
 * @param now Clock in Unix seconds (tests pass a fixed one).
 */
export function signature(
  now: () => number = () => Math.floor(Date.now() / 1000),
): MiddlewareHandler<{ Bindings: Bindings; Variables: SignatureVariables }> {
  return async function signature(c, next) {
    const config = readConfig(c.env);
    const url = new URL(c.req.url);
    if (!url.searchParams.has('sig') || config.signingKeys.length === 0) {
      c.set('signed', false); // with no keys (only allowed in `off` mode) a sig means nothing
      await next();
      return;
    }
    const check = await verifySignedUrl(url, config.signingKeys, now());
    if (check.status !== 'valid') {
      throw new OftsrError('unauthorized', check.status === 'invalid' ? check.reason : 'unsigned', {
        status: 403,
        field: 'sig',
      });
    }
    c.set('signed', true);
    await next();
  };
}
