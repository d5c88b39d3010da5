/**
 * Asynchronous jobs: S3/R2 source key in, upscaled object written under the destination key. The
 * job table is in memory (one runner process, lost on restart: a caller that sees a job vanish or
 * fail with `retryable: true` submits it again; writes are idempotent per destination key). Jobs run
 * `concurrency` at a time through the same upscaler and batcher as synchronous requests.
 */
import { randomUUID } from 'node:crypto';
import { OBJECT_METADATA, OftsrError, canonicalizeParams, toErrorBody } from '@oftsr/shared';
import type { ErrorBody, RequestParams } from '@oftsr/shared';
import { RetryLaterError } from '../errors.ts';
import type { RunnerMetrics } from '../metrics.ts';
import { StorageError } from '../io/s3.ts';
import type { ObjectRef, ObjectStore } from '../io/s3.ts';
import type { Upscaler } from '../upscaler.ts';

/** Job lifecycle. `failed` jobs say whether submitting them again may succeed. */
export type JobState = 'queued' | 'running' | 'succeeded' | 'failed';

/** A job as GET /v1/jobs/:id shows it. */
export interface Job {
  id: string;
  state: JobState;
  source: ObjectRef;
  destination: ObjectRef;
  params: RequestParams;
  createdAt: string;
  startedAt?: string;
  finishedAt?: string;
  /** Set when succeeded. */
  output?: {
    bytes: number;
    contentType: string;
    width: number;
    height: number;
    etag?: string;
    multipart: boolean;
  };
  /** Set when failed. */
  error?: ErrorBody['error'];
  /** Set when failed: true when the same job may succeed later (S3 down, runner shutting down). */
  retryable?: boolean;
  modelVersion?: string;
  provider?: string;
}

/** What a caller submits. */
export interface JobSpec {
  source: ObjectRef;
  destination: ObjectRef;
  params: RequestParams;
}

/** Options of {@link JobService}. */
export interface JobServiceOptions {
  upscaler: Upscaler;
  store: ObjectStore;
  metrics: RunnerMetrics;
  maxInputBytes: number;
  concurrency: number;
  /** Most jobs waiting to start; more are refused with 429. */
  maxQueued: number;
  /** Finished jobs kept for GET; the oldest are forgotten beyond it. */
  retention: number;
}

/** The in-memory job table and its workers. */
export class JobService {
  private readonly jobs = new Map<string, Job>();
  private readonly queue: Job[] = [];
  private running = 0;
  private idleWaiters: (() => void)[] = [];
  private readonly controllers = new Set<AbortController>();

  private readonly options: JobServiceOptions;

  constructor(options: JobServiceOptions) {
    this.options = options;
    options.upscaler.extraDepth = () => this.queue.length + this.running;
  }

  /** Queued plus running jobs. */
  get depth(): number {
    return this.queue.length + this.running;
  }

  /**
   * Queues a job.
   *
   * @throws RetryLaterError 503 when not ready, 429 when `maxQueued` jobs are waiting.
   */
  submit(spec: JobSpec): Job {
    const { upscaler, maxQueued } = this.options;
    upscaler.assertReady();
    if (this.queue.length >= maxQueued) {
      this.options.metrics.rejections.inc({ reason: 'overloaded' });
      throw new RetryLaterError(
        'overloaded',
        `${this.queue.length} jobs are waiting (OFTSR_MAX_QUEUED_JOBS=${maxQueued}); retry later`,
        upscaler.retryAfterS() * Math.max(1, this.queue.length),
      );
    }
    const job: Job = {
      id: randomUUID(),
      state: 'queued',
      source: spec.source,
      destination: spec.destination,
      params: spec.params,
      createdAt: new Date().toISOString(),
    };
    this.jobs.set(job.id, job);
    this.queue.push(job);
    this.forgetOld();
    upscaler.updateGauges();
    this.pump();
    return job;
  }

  /** A job by id, or undefined. */
  get(id: string): Job | undefined {
    return this.jobs.get(id);
  }

  /** Resolves when no job is running (queued ones are not started while draining). */
  idle(): Promise<void> {
    if (this.running === 0) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  /** Aborts running jobs (their uploads are aborted; they end `failed`, retryable). */
  abortAll(reason: string): void {
    for (const c of this.controllers) c.abort(new OftsrError('unavailable', reason));
  }

  private forgetOld(): void {
    const { retention } = this.options;
    if (this.jobs.size <= retention) return;
    for (const [id, job] of this.jobs) {
      if (this.jobs.size <= retention) break;
      if (job.state === 'succeeded' || job.state === 'failed') this.jobs.delete(id);
    }
  }

  private pump(): void {
    while (this.running < this.options.concurrency && this.queue.length > 0 && this.options.upscaler.ready) {
      const job = this.queue.shift() as Job;
      this.running += 1;
      void this.execute(job).finally(() => {
        this.running -= 1;
        this.options.upscaler.updateGauges();
        if (this.running === 0) {
          const waiters = this.idleWaiters;
          this.idleWaiters = [];
          for (const resolve of waiters) resolve();
        }
        this.pump();
      });
    }
  }

  private async execute(job: Job): Promise<void> {
    const { upscaler, store, metrics, maxInputBytes } = this.options;
    const controller = new AbortController();
    this.controllers.add(controller);
    job.state = 'running';
    job.startedAt = new Date().toISOString();
    const start = performance.now();
    try {
      const bytes = await store.getBytes(job.source, maxInputBytes, controller.signal);
      const result = await upscaler.upscale(bytes, job.params, { signal: controller.signal });
      const model = upscaler.model;
      const put = await store.putAtomic(job.destination, result.data, {
        contentType: result.contentType,
        metadata: {
          [OBJECT_METADATA.params]: canonicalizeParams(job.params),
          [OBJECT_METADATA.model]: model?.manifest.name ?? '',
          [OBJECT_METADATA.modelVersion]: model?.manifest.version ?? '',
          [OBJECT_METADATA.provider]: upscaler.provider ?? '',
          [OBJECT_METADATA.source]: `${job.source.bucket}/${job.source.key}`,
        },
        signal: controller.signal,
      });
      job.output = {
        bytes: result.data.byteLength,
        contentType: result.contentType,
        width: result.width,
        height: result.height,
        multipart: put.multipart,
        ...(put.etag ? { etag: put.etag } : {}),
      };
      job.modelVersion = model?.manifest.version ?? '';
      job.provider = upscaler.provider ?? '';
      job.state = 'succeeded';
    } catch (err) {
      const reason = controller.signal.aborted ? controller.signal.reason : err;
      job.state = 'failed';
      job.error = toErrorBody(reason).error;
      job.retryable =
        reason instanceof StorageError
          ? reason.retryable
          : reason instanceof OftsrError
            ? ['unavailable', 'overloaded', 'timeout', 'internal'].includes(reason.code)
            : true;
      if (!(reason instanceof OftsrError)) {
        console.error(JSON.stringify({ level: 'error', msg: 'job failed', id: job.id, error: String(err) }));
      }
    } finally {
      this.controllers.delete(controller);
      job.finishedAt = new Date().toISOString();
      metrics.jobs.inc({ state: job.state });
      metrics.requestSeconds.observe({ route: 'jobs' }, (performance.now() - start) / 1000);
    }
  }
}
