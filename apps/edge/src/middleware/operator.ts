import { OftsrError } from '@oftsr/shared';
import type { Bindings } from '../bindings.ts';

async function digest(text: string): Promise<ArrayBuffer> {
  return crypto.subtle.digest('SHA-256', new TextEncoder().encode(text));
}

/** Constant-time comparison of two secrets (hashed first, so lengths do not leak either). */
async function sameSecret(a: string, b: string): Promise<boolean> {
  return crypto.subtle.timingSafeEqual(await digest(a), await digest(b));
}

/**
 * The operator routes' guard (`/_oftsr/purge`, `/_oftsr/prewarm`, `/_oftsr/work`): `Authorization:
 * Bearer PURGE_TOKEN`. 404 while `PURGE_TOKEN` is unset (the routes are off), 401 with a wrong token.
 */
export async function requireOperator(
  env: Bindings,
  authorization: string | undefined,
  route: string,
): Promise<void> {
  const token = env.PURGE_TOKEN ?? '';
  if (token === '') throw new OftsrError('not_found', `${route} is off (PURGE_TOKEN is not set)`);
  if (!(await sameSecret(authorization ?? '', `Bearer ${token}`))) {
    throw new OftsrError('unauthorized', `${route} needs Authorization: Bearer PURGE_TOKEN`, {
      field: 'authorization',
    });
  }
}
