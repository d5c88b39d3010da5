/**
 * `POST /v1/upscale`: image bytes in, upscaled image out. Parameters come from the query or from
 * `x-oftsr-*` headers (the shared schema), never both. Refusals happen before any decoding: wrong
 * content type 415, too many bytes 413, a body slower than OFTSR_BODY_TIMEOUT_MS 408, an image over
 * a limit or that cannot finish within its deadline 422 (naming the limit), queue or working memory
 * full 429, not ready 503. Admission comes after the body and its header are read.
 */
import { Hono } from 'hono';
import {
  HEADERS,
  IMAGE_MIME,
  OftsrError,
  PARAM_HEADERS,
  PARAM_NAMES,
  RUNNER_ROUTES,
  parseParamsFromHeaders,
  parseParamsFromQuery,
} from '@oftsr/shared';
import type { RequestParams } from '@oftsr/shared';
import { readBody } from '../body.ts';
import type { Config } from '../../config.ts';
import { RetryLaterError } from '../../errors.ts';
import { deadlineSignal } from '../../upscaler.ts';
import type { Upscaler } from '../../upscaler.ts';

/** Content types the route takes (the shared source formats'); `application/octet-stream` is sniffed like the rest. */
export const ACCEPTED_CONTENT_TYPES: readonly string[] = [
  ...Object.values(IMAGE_MIME),
  'application/octet-stream',
];

/** The caller's time budget for one request, in milliseconds from arrival. */
const DEADLINE_HEADER = HEADERS.deadlineMs;

function checkContentType(value: string | undefined): void {
  const type = (value ?? '').split(';')[0]?.trim().toLowerCase() ?? '';
  if (!ACCEPTED_CONTENT_TYPES.includes(type)) {
    throw new OftsrError(
      'unsupported_format',
      `Content-Type must be one of ${ACCEPTED_CONTENT_TYPES.join(', ')} (got ${value === undefined ? 'none' : JSON.stringify(value)})`,
      { field: 'content-type', allowed: ACCEPTED_CONTENT_TYPES.join(', ') },
    );
  }
}

function params(url: URL, header: (name: string) => string | undefined): RequestParams {
  const inQuery = PARAM_NAMES.some((n) => url.searchParams.has(n));
  const inHeaders = PARAM_NAMES.some((n) => header(PARAM_HEADERS[n]) !== undefined);
  if (inQuery && inHeaders) {
    throw new OftsrError('bad_param', 'give parameters in the query or in x-oftsr-* headers, not both', {
      field: 'query',
    });
  }
  return inHeaders
    ? parseParamsFromHeaders({ get: (name) => header(name) ?? null })
    : parseParamsFromQuery(url.searchParams);
}

function deadlineMs(value: string | undefined, config: Config): number {
  if (value === undefined) return config.defaultDeadlineMs;
  if (!/^[0-9]{1,9}$/.test(value) || Number(value) < 1 || Number(value) > config.maxDeadlineMs) {
    throw new OftsrError(
      'bad_param',
      `${DEADLINE_HEADER} must be an integer in [1, ${config.maxDeadlineMs}] (got ${JSON.stringify(value)})`,
      {
        field: DEADLINE_HEADER,
        allowed: `an integer in [1, ${config.maxDeadlineMs}]`,
      },
    );
  }
  return Number(value);
}

const ms = (v: number) => v.toFixed(1);

/** The upscale route. */
export function upscaleRoutes(upscaler: Upscaler, config: Config): Hono {
  const app = new Hono();
  let bodiesInFlight = 0;
  app.post(RUNNER_ROUTES.upscale, async (c) => {
    const header = (name: string) => c.req.header(name);
    checkContentType(header('content-type'));
    const p = params(new URL(c.req.url), header);
    const budget = deadlineMs(header(DEADLINE_HEADER), config);
    const started = performance.now();
    upscaler.assertReady();
    // Admission prices the image, so it waits for the whole body (under its own timeout): a
    // stalled upload holds no queue slot, and what is admitted is known to fit.
    if (bodiesInFlight >= 2 * config.maxQueue) {
      throw new RetryLaterError(
        'overloaded',
        `${bodiesInFlight} request bodies are arriving (2 × OFTSR_MAX_QUEUE); retry later`,
        1,
      );
    }
    bodiesInFlight += 1;
    let body: Uint8Array;
    try {
      body = await readBody(c.req.raw, config.maxInputBytes, config.bodyTimeoutMs);
    } finally {
      bodiesInFlight -= 1;
    }
    const inspected = await upscaler.inspect(body, p);
    const left = budget - (performance.now() - started);
    if (left <= 0) {
      throw new OftsrError('timeout', `the request's deadline (${budget} ms) passed while its body arrived`);
    }
    upscaler.assertFeasible(inspected, left, DEADLINE_HEADER);
    const release = upscaler.admit(inspected.work);
    const { signal, clear } = deadlineSignal(Math.max(1, left), c.req.raw.signal);
    try {
      const out = await upscaler.upscale(body, p, { signal });
      upscaler.metrics.requestSeconds.observe({ route: 'upscale' }, (performance.now() - started) / 1000);
      const t = out.timings;
      return c.body(
        new Uint8Array(out.data.buffer as ArrayBuffer, out.data.byteOffset, out.data.byteLength),
        200,
        {
          'content-type': out.contentType,
          [HEADERS.modelVersion]: upscaler.model?.manifest.version ?? '',
          [HEADERS.executionProvider]: upscaler.provider ?? '',
          [HEADERS.width]: String(out.width),
          [HEADERS.height]: String(out.height),
          'server-timing': `decode;dur=${ms(t.decodeMs)}, infer;dur=${ms(t.inferMs)}, encode;dur=${ms(t.encodeMs)}, total;dur=${ms(t.totalMs)}`,
        },
      );
    } finally {
      clear();
      release();
    }
  });
  return app;
}
