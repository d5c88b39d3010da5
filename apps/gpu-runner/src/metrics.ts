/**
 * Prometheus metrics (prom-client), one registry per runner instance so tests can build several.
 * Services update these through plain method calls; only http/routes/metrics.ts serialises them.
 */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

/** Every metric the runner exports. Names are documented in README.md. */
export interface RunnerMetrics {
  registry: Registry;
  /** `oftsr_http_requests_total{route, method, status}` */
  requests: Counter<'route' | 'method' | 'status'>;
  /** `oftsr_queue_depth`: upscale requests admitted and unfinished plus jobs queued or running (the HPA signal). */
  queueDepth: Gauge;
  /** `oftsr_queued_tiles`: tiles waiting in the micro-batcher. */
  queuedTiles: Gauge;
  /** `oftsr_queue_wait_seconds`: a tile's wait from submission to its model call. */
  queueWait: Histogram;
  /** `oftsr_inference_seconds{shape}`: one model call. */
  inference: Histogram<'shape'>;
  /** `oftsr_tiles_per_batch`: tiles in one model call. */
  tilesPerBatch: Histogram;
  /** `oftsr_decode_seconds` and `oftsr_encode_seconds{format}` */
  decode: Histogram;
  encode: Histogram<'format'>;
  /** `oftsr_request_seconds{route}`: whole upscale or job, admission to response. */
  requestSeconds: Histogram<'route'>;
  /** `oftsr_rejections_total{reason}`: overload (429), deadline (504), draining/not ready (503). */
  rejections: Counter<'reason'>;
  /** `oftsr_jobs_total{state}`: jobs reaching each final state. */
  jobs: Counter<'state'>;
  /** `oftsr_execution_provider{provider, intended}`: 1 for the provider in use. */
  provider: Gauge<'provider' | 'intended'>;
  /** `oftsr_ready`: 1 when /v2/health/ready answers 200. */
  ready: Gauge;
}

const SECONDS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60];

/** Creates the metrics on a fresh registry, with Node's default process metrics under `oftsr_`. */
export function createMetrics(): RunnerMetrics {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'oftsr_' });
  const registers = [registry];
  return {
    registry,
    requests: new Counter({
      name: 'oftsr_http_requests_total',
      help: 'HTTP requests by route, method and status',
      labelNames: ['route', 'method', 'status'],
      registers,
    }),
    queueDepth: new Gauge({
      name: 'oftsr_queue_depth',
      help: 'Upscale requests admitted and not finished, plus jobs queued or running',
      registers,
    }),
    queuedTiles: new Gauge({
      name: 'oftsr_queued_tiles',
      help: 'Tiles waiting in the micro-batcher',
      registers,
    }),
    queueWait: new Histogram({
      name: 'oftsr_queue_wait_seconds',
      help: 'Time a tile waited for its model call',
      buckets: SECONDS,
      registers,
    }),
    inference: new Histogram({
      name: 'oftsr_inference_seconds',
      help: 'Duration of one model call, by LR tile shape',
      labelNames: ['shape'],
      buckets: SECONDS,
      registers,
    }),
    tilesPerBatch: new Histogram({
      name: 'oftsr_tiles_per_batch',
      help: 'Tiles per model call',
      buckets: [1, 2, 3, 4, 6, 8, 12, 16, 32, 64],
      registers,
    }),
    decode: new Histogram({
      name: 'oftsr_decode_seconds',
      help: 'Image decode time',
      buckets: SECONDS,
      registers,
    }),
    encode: new Histogram({
      name: 'oftsr_encode_seconds',
      help: 'Image encode time, by output format',
      labelNames: ['format'],
      buckets: SECONDS,
      registers,
    }),
    requestSeconds: new Histogram({
      name: 'oftsr_request_seconds',
      help: 'Upscale request or job duration, admission to result',
      labelNames: ['route'],
      buckets: SECONDS,
      registers,
    }),
    rejections: new Counter({
      name: 'oftsr_rejections_total',
      help: 'Work refused or dropped: overload (429), deadline (504), unavailable (503)',
      labelNames: ['reason'],
      registers,
    }),
    jobs: new Counter({
      name: 'oftsr_jobs_total',
      help: 'Jobs by final state',
      labelNames: ['state'],
      registers,
    }),
    provider: new Gauge({
      name: 'oftsr_execution_provider',
      help: 'Execution provider in use (1), labelled with the one intended first',
      labelNames: ['provider', 'intended'],
      registers,
    }),
    ready: new Gauge({ name: 'oftsr_ready', help: '1 when the runner is ready for work', registers }),
  };
}
