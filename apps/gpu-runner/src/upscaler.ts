/**
 * The runner's inference service: loads the model on the first execution provider (in config
 * order) that really runs it, warms every tile shape, owns the shared micro-batcher, admits or
 * refuses work (bounded queue, readiness, draining) and turns image bytes into upscaled bytes with
 * timings. Used by the /v1/upscale route and by jobs; no HTTP types here.
 */
import { IMAGE_MIME, OftsrError, chooseTile, priceUpscale } from '@oftsr/shared';
import type { EncodedFormat, RequestParams, UpscaleWork } from '@oftsr/shared';
import { MicroBatcher } from './inference/batcher.ts';
import type { Config } from './config.ts';
import { RetryLaterError, unprocessable } from './errors.ts';
import { decodeImage, probeImage, sourceFormatOf } from './io/image-io.ts';
import type { ImageInfo } from './io/image-io.ts';
import type { RunnerMetrics } from './metrics.ts';
import type { ExecutionProvider, LoadedModel, WarmUpReport } from './inference/onnx-session.ts';
import { upscaleImage } from './inference/upscale-image.ts';
import { WorkerSession } from './inference/worker-session.ts';

/** Lifecycle of the runner. Only `ready` takes work. */
export type RunnerState = 'starting' | 'ready' | 'draining' | 'failed';

/** An upscaled, encoded image and where the time went. */
export interface UpscaleResult {
  data: Buffer;
  format: EncodedFormat;
  contentType: string;
  width: number;
  height: number;
  timings: { decodeMs: number; inferMs: number; encodeMs: number; totalMs: number };
}

/** Options of {@link Upscaler.upscale}. */
export interface UpscaleCallOptions {
  /** Aborts queued tiles and the call: the deadline, a client that went away, a drain timeout. */
  signal?: AbortSignal;
}

/** An image whose header passed every limit, and its price. */
export interface Inspected {
  info: ImageInfo;
  work: UpscaleWork;
}

/** The work admitted requests hold, released when each finishes. */
export interface Admission {
  (): void;
}

const MiB = 1024 * 1024;

// The tile-size rule is shared with the browser SDK (same sizes → same padding → same pixels).
export { chooseTile };

/** The inference service; see the file comment. */
export class Upscaler {
  state: RunnerState = 'starting';
  /** The model in use (its session lives in the inference worker). */
  model: Omit<LoadedModel, 'session'> | undefined;
  private worker: WorkerSession | undefined;
  warmup: WarmUpReport | undefined;
  /** Why the start failed, when `state` is `failed`. */
  failure: string | undefined;
  /** Providers tried before the one in use, with the reason each was skipped. */
  readonly skipped: { provider: ExecutionProvider; reason: string }[] = [];
  private batcher: MicroBatcher | undefined;
  private admitted = 0;
  private active = 0;
  /** Working memory (estimated bytes) and tile area of the admitted requests. */
  private heldBytes = 0;
  private heldTilePixels = 0;
  /**
   * Measured service time per LR tile pixel (ms), from requests that ran alone (so no queueing is
   * in it), seeded from the warm-up; prices time (deadline checks) and Retry-After.
   */
  private msPerTilePixel: number | undefined;
  /** Counts upscales that started while another ran (a request that saw it change was not alone). */
  private concurrentSince = 0;
  private idleWaiters: (() => void)[] = [];
  /** Work counted in the queue depth besides admitted requests (queued and running jobs). */
  extraDepth: () => number = () => 0;

  readonly config: Config;
  readonly metrics: RunnerMetrics;

  constructor(config: Config, metrics: RunnerMetrics) {
    this.config = config;
    this.metrics = metrics;
    metrics.ready.set(0);
  }

  /** The provider in use, once started. */
  get provider(): ExecutionProvider | undefined {
    return this.model?.provider;
  }

  /** Ready for work: model loaded on the intended provider, warm-up done, not draining. */
  get ready(): boolean {
    return this.state === 'ready';
  }

  /**
   * Loads the model on the first provider of `config.providers` that loads, runs the heavy nodes
   * itself (checked from the warm-up profile) and warms every tile shape. A provider that fails is
   * logged and the next is tried; when `requireProvider` is set, ending anywhere else is a failure.
   *
   * @throws OftsrError `model_contract` when no provider works or the required one is not the one in use.
   */
  async start(log: (line: string) => void = () => {}): Promise<void> {
    try {
      const { config } = this;
      for (const provider of config.providers) {
        try {
          const worker = await WorkerSession.start({
            load: {
              ...(config.modelPath ? { modelPath: config.modelPath } : {}),
              providers: [provider],
              threads: config.threads,
              profilePlacement: provider !== 'cpu',
            },
            // Without fixed tiles shapes vary per image; one small shape initialises the session.
            shapes: (config.fixedTiles ? config.tileSizes : [Math.min(128, ...config.tileSizes)]).map(
              (t) => ({
                width: t,
                height: t,
              }),
            ),
            maxBatch: config.maxBatch,
          });
          try {
            this.checkTileSizes(worker.model.manifest);
            const report = worker.report;
            if (report.misplacedHeavyNodes) {
              throw new OftsrError(
                'model_contract',
                `${report.misplacedHeavyNodes} heavy nodes ran outside ${provider} (${JSON.stringify(report.nodesByProvider)})`,
              );
            }
          } catch (err) {
            await worker.close();
            throw err;
          }
          this.worker = worker;
          this.model = worker.model;
          this.warmup = worker.report;
          break;
        } catch (err) {
          const reason = err instanceof Error ? err.message : String(err);
          if (err instanceof OftsrError && /OFTSR_TILE_SIZES/.test(err.message)) throw err;
          this.skipped.push({ provider, reason });
          log(JSON.stringify({ level: 'warn', msg: 'execution provider unusable', provider, reason }));
        }
      }
      if (!this.model) {
        throw new OftsrError(
          'model_contract',
          `no execution provider could run the model: ${this.skipped.map((s) => `${s.provider}: ${s.reason}`).join('; ')}`,
        );
      }
      const model = this.model;
      const intended = config.requireProvider ?? config.providers[0] ?? 'cpu';
      this.metrics.provider.set({ provider: model.provider, intended }, 1);
      if (config.requireProvider && model.provider !== config.requireProvider) {
        throw new OftsrError(
          'model_contract',
          `OFTSR_REQUIRE_PROVIDER=${config.requireProvider} but the model runs on ${model.provider}`,
        );
      }
      if (model.provider !== intended) {
        log(
          JSON.stringify({
            level: 'warn',
            msg: 'running on a fallback provider',
            provider: model.provider,
            intended,
          }),
        );
      }
      const worker = this.worker as WorkerSession;
      this.batcher = new MicroBatcher({
        runBatch: (tiles) => worker.runBatch(tiles),
        maxBatch: config.maxBatch,
        maxDelayMs: config.maxDelayMs,
        concurrency: config.batchConcurrency,
        onBatch: (info) => {
          this.metrics.inference.observe({ shape: info.shape }, info.runMs / 1000);
          this.metrics.tilesPerBatch.observe(info.size);
          for (const w of info.waitMs) this.metrics.queueWait.observe(w / 1000);
          this.updateGauges();
        },
      });
      this.msPerTilePixel = warmupRate(
        this.warmup,
        config.fixedTiles ? config.tileSizes : [Math.min(128, ...config.tileSizes)],
        config.maxBatch,
      );
      this.state = 'ready';
      this.metrics.ready.set(1);
      log(
        JSON.stringify({
          level: 'info',
          msg: 'ready',
          provider: model.provider,
          model: model.manifest.version,
          warmupMs: Math.round(this.warmup?.milliseconds ?? 0),
          shapes: this.warmup?.shapes,
        }),
      );
    } catch (err) {
      this.state = 'failed';
      this.failure = err instanceof Error ? err.message : String(err);
      throw err;
    }
  }

  private checkTileSizes(manifest: LoadedModel['manifest']): void {
    const { alignment, margin } = manifest;
    const overlap = Math.ceil(margin / alignment) * alignment;
    const sizes = this.config.tileSizes;
    const bad = sizes.filter((t) => t % alignment !== 0);
    const largest = sizes.at(-1) as number;
    if (bad.length > 0 || largest <= 2 * overlap) {
      throw new OftsrError(
        'model_contract',
        `OFTSR_TILE_SIZES (${sizes.join(',')}) must be multiples of ${alignment}, the largest above ` +
          `${2 * overlap} (twice the overlap of this model)`,
      );
    }
  }

  /**
   * Seconds a refused caller should wait: the time the admitted work takes to drain at the
   * measured service rate (tile area held × ms per tile pixel, over the model calls in parallel).
   */
  retryAfterS(): number {
    const ms = (this.heldTilePixels * (this.msPerTilePixel ?? 0)) / this.config.batchConcurrency;
    return Math.max(1, Math.ceil(ms / 1000));
  }

  /** Estimated milliseconds of model work for `work` alone, at the measured rate. */
  estimateMs(work: UpscaleWork): number {
    return work.tilePixels * (this.msPerTilePixel ?? 0);
  }

  /**
   * Reads the header and applies every limit before anything is decoded: format, pixels, sides,
   * output pixels, then prices the work (tiles and bytes).
   *
   * @throws OftsrError 422 naming the setting that refused it (`OFTSR_MAX_INPUT_SIDE`,
   *   `OFTSR_MAX_INPUT_MEGAPIXELS`, `OFTSR_MAX_OUTPUT_MEGAPIXELS`, `OFTSR_MAX_WORK_MB`), 415/422
   *   for formats, 422 `bad_image`.
   */
  async inspect(bytes: Uint8Array, params: RequestParams): Promise<Inspected> {
    const model = this.model;
    if (!model) throw new RetryLaterError('unavailable', 'the runner is not ready', 1);
    const { maxInputPixels: maxPixels, maxInputSide: side, maxOutputPixels, maxWorkBytes } = this.config;
    try {
      const info = await probeImage(bytes, { maxPixels });
      if (info.width > side || info.height > side) {
        // Extreme aspect ratios cost far more than their pixel count once padded to tiles.
        throw new OftsrError(
          'too_large',
          `${info.width}×${info.height} has a side over ${side} px (OFTSR_MAX_INPUT_SIDE)`,
          { status: 422, field: 'OFTSR_MAX_INPUT_SIDE', allowed: `width and height at most ${side}` },
        );
      }
      // The shared SOURCE_FORMATS (TIFF is the CLI's alone). GIF only as a still: animated and
      // multi-page images are refused by `probeImage` (415; the edge serves those as the original).
      if (sourceFormatOf(info.sourceFormat) === undefined) {
        throw new OftsrError(
          'unsupported_format',
          `${info.sourceFormat} images are not supported (accepted: PNG, JPEG, WebP, AVIF, still GIF)`,
        );
      }
      const outputPixels = info.width * info.height * params.sr * params.sr;
      if (outputPixels > maxOutputPixels) {
        throw new OftsrError(
          'too_large',
          `${info.width}×${info.height} at sr=${params.sr} is ${(outputPixels / 1e6).toFixed(1)} MP of output; ` +
            `the limit is ${(maxOutputPixels / 1e6).toFixed(1)} MP (OFTSR_MAX_OUTPUT_MEGAPIXELS)`,
          {
            status: 422,
            field: 'OFTSR_MAX_OUTPUT_MEGAPIXELS',
            allowed: `at most ${maxOutputPixels} output pixels`,
          },
        );
      }
      const work = priceUpscale(model.manifest, info.width, info.height, {
        tileSizes: this.config.tileSizes,
        fixedTile: this.config.fixedTiles,
        inFlight: this.config.maxBatch,
      });
      if (work.bytes > maxWorkBytes) {
        throw new OftsrError(
          'too_large',
          `${info.width}×${info.height} needs about ${Math.ceil(work.bytes / MiB)} MiB of working memory ` +
            `(${work.tiles} tiles of ${work.tile}²); the limit is ${maxWorkBytes / MiB} MiB (OFTSR_MAX_WORK_MB)`,
          {
            status: 422,
            field: 'OFTSR_MAX_WORK_MB',
            allowed: `at most ${maxWorkBytes / MiB} MiB per request`,
          },
        );
      }
      return { info, work };
    } catch (err) {
      throw unprocessable(err, maxPixels);
    }
  }

  /**
   * Refuses at once what cannot finish within `deadlineMs` at the measured service rate, so a
   * thin strip padded to dozens of tiles is a definite 422 instead of a 504 after the deadline.
   *
   * @throws OftsrError 422 `too_large` naming the deadline header.
   */
  assertFeasible(inspected: Inspected, deadlineMs: number, header: string): void {
    const estimate = this.estimateMs(inspected.work);
    if (estimate <= deadlineMs) return;
    const { info, work } = inspected;
    throw new OftsrError(
      'too_large',
      `${info.width}×${info.height} runs ${work.tiles} tiles of ${work.tile}² (about ${(estimate / 1000).toFixed(1)} s ` +
        `at the measured rate), more than the deadline of ${Math.floor(deadlineMs)} ms (${header})`,
      { status: 422, field: header, allowed: `work that finishes within ${Math.floor(deadlineMs)} ms` },
    );
  }

  /**
   * Admits one upscale request, or refuses it at once: 503 while starting or draining, 429 when
   * `maxQueue` requests are already admitted or when its working memory does not fit in what the
   * admitted requests leave of `OFTSR_MAX_WORK_MB`. Call the returned function when it is done.
   *
   * @throws RetryLaterError `unavailable` (503) or `overloaded` (429), with a Retry-After.
   */
  admit(work?: UpscaleWork): Admission {
    this.assertReady();
    if (this.admitted >= this.config.maxQueue) {
      this.metrics.rejections.inc({ reason: 'overloaded' });
      throw new RetryLaterError(
        'overloaded',
        `the runner's queue is full (${this.admitted} requests, OFTSR_MAX_QUEUE=${this.config.maxQueue}); retry later`,
        this.retryAfterS(),
      );
    }
    const bytes = work?.bytes ?? 0;
    if (this.admitted > 0 && this.heldBytes + bytes > this.config.maxWorkBytes) {
      this.metrics.rejections.inc({ reason: 'overloaded' });
      throw new RetryLaterError(
        'overloaded',
        `admitted work holds ${Math.ceil(this.heldBytes / MiB)} MiB; this request needs ${Math.ceil(bytes / MiB)} MiB ` +
          `more than OFTSR_MAX_WORK_MB=${this.config.maxWorkBytes / MiB} allows; retry later`,
        this.retryAfterS(),
      );
    }
    const tilePixels = work?.tilePixels ?? 0;
    this.admitted += 1;
    this.heldBytes += bytes;
    this.heldTilePixels += tilePixels;
    this.updateGauges();
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.admitted -= 1;
      this.heldBytes -= bytes;
      this.heldTilePixels -= tilePixels;
      this.updateGauges();
    };
  }

  /** @throws RetryLaterError `unavailable` (503) unless ready. */
  assertReady(): void {
    if (this.state === 'ready') return;
    this.metrics.rejections.inc({ reason: 'unavailable' });
    const why =
      this.state === 'draining'
        ? 'the runner is shutting down'
        : this.state === 'failed'
          ? 'the runner failed to start'
          : 'the runner is still starting';
    throw new RetryLaterError(
      'unavailable',
      `${why}; retry on another instance`,
      this.state === 'starting' ? 5 : 1,
    );
  }

  /** Refreshes the queue gauges. */
  updateGauges(): void {
    this.metrics.queueDepth.set(this.admitted + this.extraDepth());
    this.metrics.queuedTiles.set(this.batcher?.queuedTiles ?? 0);
  }

  /**
   * Decodes (after header checks), upscales through the shared batcher and encodes.
   *
   * @throws OftsrError 422 for images it cannot process, `timeout` (504) when the signal's deadline
   *   passes first, the signal's reason for other aborts.
   */
  async upscale(
    bytes: Uint8Array,
    params: RequestParams,
    options: UpscaleCallOptions = {},
  ): Promise<UpscaleResult> {
    const model = this.model;
    const batcher = this.batcher;
    if (!model || !batcher) throw new RetryLaterError('unavailable', 'the runner is not ready', 1);
    const { signal } = options;
    const start = performance.now();
    this.active += 1;
    if (this.active > 1) this.concurrentSince += 1;
    try {
      const { work } = await this.inspect(bytes, params);
      const maxPixels = this.config.maxInputPixels;
      const alone = this.active === 1;
      const concurrentMark = this.concurrentSince;
      let image;
      try {
        image = await decodeImage(bytes, { maxPixels });
      } catch (err) {
        throw unprocessable(err, maxPixels);
      }
      const decodeMs = performance.now() - start;
      this.metrics.decode.observe(decodeMs / 1000);
      signal?.throwIfAborted();
      const timings: { inferMs?: number; encodeMs?: number } = {};
      const tile = chooseTile(this.config.tileSizes, model.manifest, image.width, image.height);
      const out = await upscaleImage(model, image, params, {
        tile,
        fixedTile: this.config.fixedTiles,
        executor: batcher,
        inFlight: this.config.maxBatch,
        ...(signal ? { signal } : {}),
        timings,
      });
      const encodeMs = timings.encodeMs ?? 0;
      this.metrics.encode.observe({ format: out.format }, encodeMs / 1000);
      const totalMs = performance.now() - start;
      // Only a request that had the runner to itself measures the service rate (no queueing in it),
      // and only one that ran at least a full largest tile: tiny ones are all fixed overhead.
      const largest = Math.min(256, this.config.tileSizes.at(-1) ?? 0);
      if (alone && this.concurrentSince === concurrentMark && work.tilePixels >= largest * largest) {
        const rate = (timings.inferMs ?? 0) / work.tilePixels;
        this.msPerTilePixel =
          this.msPerTilePixel === undefined ? rate : 0.7 * this.msPerTilePixel + 0.3 * rate;
      }
      return {
        ...out,
        contentType: IMAGE_MIME[out.format],
        timings: { decodeMs, inferMs: timings.inferMs ?? 0, encodeMs, totalMs },
      };
    } catch (err) {
      if (signal?.aborted && err === signal.reason) throw deadlineError(signal.reason, this.metrics);
      throw err;
    } finally {
      this.active -= 1;
      this.updateGauges();
      if (this.active === 0) {
        const waiters = this.idleWaiters;
        this.idleWaiters = [];
        for (const resolve of waiters) resolve();
      }
    }
  }

  /** Stops taking work: readiness turns 503, new requests get 503. */
  beginDrain(): void {
    if (this.state === 'ready' || this.state === 'starting') this.state = 'draining';
    this.metrics.ready.set(0);
  }

  /** Resolves when no upscale is in progress. */
  idle(): Promise<void> {
    if (this.active === 0) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  /** Releases the session. */
  async close(): Promise<void> {
    await this.worker?.close();
    this.worker = undefined;
  }
}

/** The reason a deadline signal carries: see {@link deadlineSignal}. */
export class DeadlineExceeded extends Error {
  readonly deadlineMs: number;

  constructor(deadlineMs: number) {
    super(`deadline of ${deadlineMs} ms exceeded`);
    this.name = 'DeadlineExceeded';
    this.deadlineMs = deadlineMs;
  }
}

function deadlineError(reason: unknown, metrics: RunnerMetrics): unknown {
  if (!(reason instanceof DeadlineExceeded)) return reason;
  metrics.rejections.inc({ reason: 'deadline' });
  return new OftsrError(
    'timeout',
    `the request's deadline (${reason.deadlineMs} ms) passed before the work finished; it was dropped`,
  );
}

/**
 * A signal that aborts with {@link DeadlineExceeded} after `ms`, or with `parent`'s reason.
 * Call `clear` when the work ends so the timer does not keep the process alive.
 */
export function deadlineSignal(ms: number, parent?: AbortSignal): { signal: AbortSignal; clear: () => void } {
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(new DeadlineExceeded(ms)), ms);
  const onParent = () => controller.abort(parent?.reason);
  if (parent?.aborted) onParent();
  else parent?.addEventListener('abort', onParent, { once: true });
  return {
    signal: controller.signal,
    clear: () => {
      clearTimeout(timer);
      parent?.removeEventListener('abort', onParent);
    },
  };
}

/**
 * A first service rate from the warm-up (every tile shape at batch 1 and `maxBatch`), halved
 * because first runs carry one-off costs; real requests replace it as they finish.
 */
function warmupRate(
  report: WarmUpReport | undefined,
  tileSizes: readonly number[],
  maxBatch: number,
): number | undefined {
  if (report === undefined || report.milliseconds <= 0) return undefined;
  const runs = new Set([1, maxBatch]);
  const pixels = tileSizes.reduce((sum, t) => sum + t * t * [...runs].reduce((a, n) => a + n, 0), 0);
  return pixels > 0 ? report.milliseconds / 2 / pixels : undefined;
}
