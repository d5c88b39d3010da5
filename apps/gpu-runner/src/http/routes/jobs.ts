/**
 * `POST /v1/jobs` and `GET /v1/jobs/:id`: asynchronous upscaling from an S3/R2 key to another.
 * A key alone uses the default bucket (OFTSR_S3_BUCKET); `{ bucket, key }` names another.
 */
import { Hono } from 'hono';
import { z } from 'zod';
import { OftsrError, RUNNER_ROUTES, parseParamsFromJson } from '@oftsr/shared';
import { readBody } from '../body.ts';
import type { JobService } from '../../jobs/job-service.ts';
import type { ObjectRef } from '../../io/s3.ts';

const Ref = z.union([
  z.string().min(1).max(1024),
  z.strictObject({ bucket: z.string().min(3).max(63), key: z.string().min(1).max(1024) }),
]);

/** The body of POST /v1/jobs. */
export const JobRequest = z.strictObject({
  source: Ref,
  destination: Ref,
  /** Request parameters, as in the shared JSON schema. */
  params: z.unknown().optional(),
});

function toRef(value: z.infer<typeof Ref>, field: string, bucket: string | undefined): ObjectRef {
  if (typeof value !== 'string') return value;
  if (!bucket) {
    throw new OftsrError(
      'bad_param',
      `${field} needs a bucket: give { "bucket", "key" } or set OFTSR_S3_BUCKET`,
      {
        field,
      },
    );
  }
  return { bucket, key: value };
}

/** The job routes. */
export function jobRoutes(jobs: JobService, defaultBucket: string | undefined): Hono {
  const app = new Hono();
  app.post(RUNNER_ROUTES.jobs, async (c) => {
    const type = (c.req.header('content-type') ?? '').split(';')[0]?.trim().toLowerCase();
    if (type !== 'application/json') {
      throw new OftsrError('unsupported_format', 'Content-Type must be application/json', {
        field: 'content-type',
        allowed: 'application/json',
      });
    }
    const body = await readBody(c.req.raw, 64 * 1024);
    let json: unknown;
    try {
      json = JSON.parse(Buffer.from(body).toString('utf8'));
    } catch {
      throw new OftsrError('bad_param', 'the body is not valid JSON', { field: 'body' });
    }
    const parsed = JobRequest.safeParse(json);
    if (!parsed.success) {
      const issue = parsed.error.issues[0];
      const field = issue?.path.join('.') || 'body';
      throw new OftsrError('bad_param', `invalid job: ${field}: ${issue?.message ?? 'invalid'}`, { field });
    }
    const source = toRef(parsed.data.source, 'source', defaultBucket);
    const destination = toRef(parsed.data.destination, 'destination', defaultBucket);
    if (source.bucket === destination.bucket && source.key === destination.key) {
      throw new OftsrError('bad_param', 'destination must differ from source', { field: 'destination' });
    }
    const params = parseParamsFromJson(parsed.data.params ?? {});
    const job = jobs.submit({ source, destination, params });
    return c.json(job, 202, { location: `${RUNNER_ROUTES.jobs}/${job.id}` });
  });
  app.get(RUNNER_ROUTES.job, (c) => {
    const job = jobs.get(c.req.param('id'));
    if (!job)
      throw new OftsrError('not_found', `no job ${c.req.param('id')} (jobs live in memory, one runner)`);
    return c.json(job);
  });
  return app;
}
