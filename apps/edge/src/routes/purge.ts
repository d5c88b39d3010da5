import { OftsrError } from '@oftsr/shared';
import { Hono } from 'hono';
import type { Bindings } from '../bindings.ts';
import { readConfig } from '../config.ts';
import { requireOperator } from '../middleware/operator.ts';
import { purgeRecord } from '../freshness.ts';
import { locateSource } from '../source.ts';

/** The purge route's path (outside any source path a CDN URL would use). */
export const PURGE_PATH = '/_oftsr/purge';

/**
 * `POST /_oftsr/purge?path=/photos/cat.jpg` with `Authorization: Bearer PURGE_TOKEN`: drops the
 * source record of that path (any spelling: the canonical path is purged), so the next request
 * fetches the source again and, if it changed, keys its outputs anew. 404 while `PURGE_TOKEN` is
 * unset, 401 with a wrong token, 400 for a bad path.
 */
export const purge = new Hono<{ Bindings: Bindings }>().post(PURGE_PATH, async (c) => {
  await requireOperator(c.env, c.req.header('authorization'), 'purge');
  const path = c.req.query('path');
  if (path === undefined || !path.startsWith('/')) {
    throw new OftsrError('bad_param', 'give the source path to purge as ?path=/…', { field: 'path' });
  }
  const config = readConfig(c.env);
  const location = locateSource(new URL(path, 'https://purge.invalid').pathname, config, c.env);
  await purgeRecord(c.env, location);
  return c.json({ purged: location.identity.kind === 'url' ? location.identity.url : path }, 200, {
    'cache-control': 'no-store',
  });
});
