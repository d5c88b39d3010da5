/**
 * The runner's hono app, built without listening so tests can call `app.request()`. Health,
 * metadata and metrics are open; everything under /v1 needs the edge's credentials. One `onError`
 * turns every failure into the shared `ErrorBody`.
 */
import { Hono } from 'hono';
import { HTTPException } from 'hono/http-exception';
import { OftsrError, errorStatus, toErrorBody } from '@oftsr/shared';
import type { ErrorCode } from '@oftsr/shared';
import type { ContentfulStatusCode } from 'hono/utils/http-status';
import type { Config } from '../config.ts';
import { RetryLaterError } from '../errors.ts';
import type { JobService } from '../jobs/job-service.ts';
import type { RunnerMetrics } from '../metrics.ts';
import { requireAuth } from './middleware/require-auth.ts';
import { countRequests } from './middleware/count-requests.ts';
import { healthRoutes } from './routes/health.ts';
import { jobRoutes } from './routes/jobs.ts';
import { metricsRoutes } from './routes/metrics.ts';
import { upscaleRoutes } from './routes/upscale.ts';
import type { Upscaler } from '../upscaler.ts';

/** What the app is built from (see runtime.ts). */
export interface AppDeps {
  config: Config;
  metrics: RunnerMetrics;
  upscaler: Upscaler;
  jobs: JobService;
}

const HTTP_CODES: Readonly<Record<number, ErrorCode>> = {
  400: 'bad_param',
  401: 'unauthorized',
  404: 'not_found',
  413: 'too_large',
  415: 'unsupported_format',
  429: 'overloaded',
  503: 'unavailable',
  504: 'timeout',
};

function normalise(err: unknown): unknown {
  if (err instanceof HTTPException) {
    const code = HTTP_CODES[err.status];
    return code ? new OftsrError(code, err.message || code, { status: err.status }) : err;
  }
  return err;
}

/** Builds the app. */
export function createApp({ config, metrics, upscaler, jobs }: AppDeps): Hono {
  const app = new Hono();
  app.use('*', countRequests(metrics));
  app.use('/v1/*', requireAuth(config.auth));
  app.route('/', healthRoutes(upscaler, config));
  app.route(
    '/',
    metricsRoutes(metrics, () => upscaler.updateGauges()),
  );
  app.route('/', upscaleRoutes(upscaler, config));
  app.route('/', jobRoutes(jobs, config.s3.bucket));
  app.notFound((c) =>
    c.json(toErrorBody(new OftsrError('not_found', `no route ${c.req.method} ${c.req.path}`)), 404),
  );
  app.onError((raw, c) => {
    const err = normalise(raw);
    const status = errorStatus(err);
    if (status >= 500 && !(err instanceof OftsrError)) {
      console.error(
        JSON.stringify({
          level: 'error',
          msg: 'unhandled',
          path: c.req.path,
          error: String(raw),
          stack: (raw as Error).stack,
        }),
      );
    }
    if (err instanceof RetryLaterError) c.header('retry-after', String(err.retryAfterS));
    if (status === 401) c.header('www-authenticate', 'Bearer realm="oftsr-runner"');
    return c.json(toErrorBody(err), status as ContentfulStatusCode);
  });
  return app;
}
