import { Hono } from 'hono';
import type { Bindings } from '../bindings.ts';
import { readConfig } from '../config.ts';

/** `GET /healthz`: liveness plus the model version the edge keys its cache with. */
export const health = new Hono<{ Bindings: Bindings }>().get('/healthz', (c) =>
  c.json({ ok: true, modelVersion: readConfig(c.env).modelVersion }, 200, { 'cache-control': 'no-store' }),
);
