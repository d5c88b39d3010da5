import { Hono } from 'hono';
import { RUNNER_ROUTES } from '@oftsr/shared';
import type { RunnerMetrics } from '../../metrics.ts';

/** `GET /metrics` in the Prometheus text format. */
export function metricsRoutes(metrics: RunnerMetrics, refresh: () => void): Hono {
  const app = new Hono();
  app.get(RUNNER_ROUTES.metrics, async (c) => {
    refresh();
    return c.body(await metrics.registry.metrics(), 200, { 'content-type': metrics.registry.contentType });
  });
  return app;
}
