/**
 * Composes the runner from its configuration: metrics, upscaler, S3 store, jobs and the app, plus
 * start (load and warm the model) and drain (stop taking work, let in-flight work finish up to a
 * timeout, abort what remains). index.ts and the tests build the runner through here.
 */
import type { S3Client } from '@aws-sdk/client-s3';
import type { Hono } from 'hono';
import { createApp } from './http/app.ts';
import type { Config } from './config.ts';
import { JobService } from './jobs/job-service.ts';
import { createMetrics } from './metrics.ts';
import type { RunnerMetrics } from './metrics.ts';
import { ObjectStore, createS3Client } from './io/s3.ts';
import { Upscaler } from './upscaler.ts';

/** A composed runner. */
export interface Runtime {
  config: Config;
  metrics: RunnerMetrics;
  upscaler: Upscaler;
  jobs: JobService;
  store: ObjectStore;
  app: Hono;
  /** Loads and warms the model; the app answers (503 until ready) before this resolves. */
  start(log?: (line: string) => void): Promise<void>;
  /** Not ready from now on; resolves true if all work finished within `timeoutMs`. */
  drain(timeoutMs: number): Promise<boolean>;
  close(): Promise<void>;
}

/** Builds a runner; `s3Client` replaces the one built from `config.s3`. */
export function createRuntime(config: Config, options: { s3Client?: S3Client } = {}): Runtime {
  const metrics = createMetrics();
  const upscaler = new Upscaler(config, metrics);
  const client = options.s3Client ?? createS3Client(config.s3);
  const store = new ObjectStore(client, config.s3.partSizeBytes);
  const jobs = new JobService({
    upscaler,
    store,
    metrics,
    maxInputBytes: config.maxInputBytes,
    concurrency: config.jobs.concurrency,
    maxQueued: config.jobs.maxQueued,
    retention: config.jobs.retention,
  });
  const app = createApp({ config, metrics, upscaler, jobs });
  return {
    config,
    metrics,
    upscaler,
    jobs,
    store,
    app,
    start: (log) => upscaler.start(log),
    async drain(timeoutMs) {
      upscaler.beginDrain();
      let timer: NodeJS.Timeout | undefined;
      const finished = await Promise.race([
        Promise.all([upscaler.idle(), jobs.idle()]).then(() => true),
        new Promise<boolean>((resolve) => {
          timer = setTimeout(() => resolve(false), timeoutMs);
        }),
      ]);
      clearTimeout(timer);
      if (!finished) {
        // Uploads still running are aborted: their multipart uploads never complete, so nothing appears.
        jobs.abortAll('the runner shut down before the job finished');
        await Promise.race([jobs.idle(), new Promise((resolve) => setTimeout(resolve, 2000))]);
      }
      return finished;
    },
    async close() {
      await upscaler.close();
      client.destroy();
    },
  };
}
