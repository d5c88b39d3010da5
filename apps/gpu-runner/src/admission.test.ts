/**
 * Admission by work: requests are priced from their header (tiles and working memory, shared
 * `priceUpscale`) before they take a slot, the memory admitted at once is bounded by
 * OFTSR_MAX_WORK_MB, and Retry-After is the measured drain time of the admitted work.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ErrorBody, priceUpscale } from '@oftsr/shared';
import type { Runtime } from './runtime.ts';
import { patternImage, pngBomb } from './testing/fixtures.ts';
import { waitFor } from '@oftsr/devkit';
import { TEST_TOKEN, startRuntime } from './testing/runtime.ts';

const AUTH = { authorization: `Bearer ${TEST_TOKEN}` };
const WORK_MB = 3072;

let rt: Runtime;

beforeAll(async () => {
  rt = await startRuntime({
    OFTSR_TILE_SIZES: '64,128,256',
    OFTSR_MAX_QUEUE: '16',
    OFTSR_MAX_WORK_MB: String(WORK_MB),
  });
}, 120_000);

afterAll(async () => {
  await rt?.close();
});

async function upscale(body: Uint8Array, signal?: AbortSignal): Promise<Response> {
  return rt.app.request('http://runner/v1/upscale', {
    method: 'POST',
    body,
    headers: { 'content-type': 'image/png', 'x-oftsr-deadline-ms': '600000', ...AUTH },
    ...(signal ? { signal } : {}),
  });
}

describe('admission by work', () => {
  it('four 4 MP all-zero PNGs at once: one is admitted, the rest get 429 naming OFTSR_MAX_WORK_MB', async () => {
    const bomb = pngBomb(2000, 2000); // 4.0 MP, about 12 KB
    const manifest = rt.upscaler.model?.manifest;
    if (!manifest) throw new Error('no model');
    const work = priceUpscale(manifest, 2000, 2000, { tileSizes: rt.config.tileSizes, inFlight: 4 });
    expect(work.bytes).toBeLessThanOrEqual(WORK_MB * 1024 * 1024);
    expect(2 * work.bytes).toBeGreaterThan(WORK_MB * 1024 * 1024);

    const rssBefore = process.memoryUsage().rss;
    let rssPeak = rssBefore;
    const sampler = setInterval(() => {
      rssPeak = Math.max(rssPeak, process.memoryUsage().rss);
    }, 20);
    const abort = new AbortController();
    const pending = Array.from({ length: 4 }, () => upscale(bomb, abort.signal));
    const refused: Response[] = [];
    // Refusals come at once; the admitted one would run for a minute on a CPU, so it is cancelled.
    await waitFor(
      async () => {
        const settled = await Promise.all(
          pending.map((p) =>
            Promise.race([p, new Promise<undefined>((r) => setTimeout(() => r(undefined), 5))]),
          ),
        );
        refused.splice(0, refused.length, ...settled.filter((r): r is Response => r !== undefined));
        return refused.length >= 3;
      },
      20_000,
      50,
    );
    await new Promise((r) => setTimeout(r, 1500)); // let the admitted one decode and allocate
    abort.abort();
    await Promise.allSettled(pending);
    clearInterval(sampler);

    expect(refused.map((r) => r.status)).toEqual([429, 429, 429]);
    for (const res of refused) {
      expect(Number(res.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
      const body = ErrorBody.parse(await res.json());
      expect(body.error.code).toBe('overloaded');
      expect(body.error.message).toContain('OFTSR_MAX_WORK_MB');
    }
    // The documented bound: what is admitted at once never holds more than OFTSR_MAX_WORK_MB.
    expect(rssPeak - rssBefore).toBeLessThan(WORK_MB * 1024 * 1024);
  });

  it('Retry-After is the drain time of the admitted work at the measured rate, not queueing × count', async () => {
    const img = await patternImage(140, 60); // one 256² tile
    const wave = () => Array.from({ length: 8 }, () => upscale(img));
    // A first wave under load: each of these spends most of its time queued.
    expect((await Promise.all(wave())).map((r) => r.status)).toEqual(Array(8).fill(200));
    const second = wave();
    await waitFor(() => rt.upscaler.retryAfterS() > 0, 5_000, 5);
    const started = performance.now();
    await new Promise((r) => setTimeout(r, 20));
    const hint = rt.upscaler.retryAfterS();
    expect((await Promise.all(second)).map((r) => r.status)).toEqual(Array(8).fill(200));
    const drainS = (performance.now() - started) / 1000;
    expect(hint).toBeLessThanOrEqual(Math.ceil(2 * drainS) + 1);
  });
});
