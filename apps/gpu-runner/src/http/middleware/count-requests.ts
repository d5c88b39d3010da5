import type { MiddlewareHandler } from 'hono';
import { RUNNER_ROUTES } from '@oftsr/shared';
import type { RunnerMetrics } from '../../metrics.ts';

const ROUTES: readonly [RegExp, string][] = [
  [/^\/v1\/upscale$/, RUNNER_ROUTES.upscale],
  [/^\/v1\/jobs$/, RUNNER_ROUTES.jobs],
  [/^\/v1\/jobs\/[^/]+$/, RUNNER_ROUTES.job],
  [/^\/v2\/health\/(live|ready)$/, '/v2/health/$1'],
  [/^\/v2\/models\/[^/]+(\/ready)?$/, '/v2/models/:name$1'],
  [/^\/v2$/, RUNNER_ROUTES.server],
  [/^\/metrics$/, RUNNER_ROUTES.metrics],
];

/** The route template of a path, so label values stay bounded whatever callers send. */
export function routeLabel(path: string): string {
  for (const [pattern, label] of ROUTES) {
    const m = pattern.exec(path);
    if (m) return label.replace('$1', m[1] ?? '');
  }
  return 'other';
}

/** Counts every response in `oftsr_http_requests_total{route, method, status}`, errors included. */
export function countRequests(metrics: RunnerMetrics): MiddlewareHandler {
  return async function countRequests(c, next) {
    await next();
    metrics.requests.inc({
      route: routeLabel(c.req.path),
      method: c.req.method,
      status: String(c.res.status),
    });
  };
}
