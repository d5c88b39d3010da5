import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { contextPad, noiseField, OftsrError, pixelsToTensor, tensorToPixels } from '@oftsr/shared';
import type { TilingOptions } from '@oftsr/shared';
import { planUpscale, runTileBatch, upscaleTensor } from './pipeline.ts';
import { DEFAULT_MODEL_DIR, loadModel } from './onnx-session.ts';
import type { LoadedModel } from './onnx-session.ts';
import { patternPixels, realModelPresent, tempDir } from '../testing/fixtures.ts';
import { writeTinyModel } from '../testing/tiny-model.ts';

function pattern(width: number, height: number): Float32Array {
  return pixelsToTensor(patternPixels(width, height), width, height, 3, 8).rgb;
}

function maxAbsDiff(a: Float32Array, b: Float32Array): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs((a[i] as number) - (b[i] as number)));
  return m;
}

const roundUp = (v: number, step: number): number => Math.ceil(v / step) * step;

/**
 * The pipeline checks, run on the tiny test model (always) and on the shipped model (when present).
 * One 8-bit level is 2/255 in the model's [-1, 1] range.
 */
function pipelineSuite(name: string, open: () => Promise<LoadedModel>): void {
  describe(`upscaleTensor on ${name}`, () => {
    let model: LoadedModel;
    beforeAll(async () => {
      model = await open();
    });
    afterAll(async () => {
      await model?.session.release();
    });

    // Non-square, odd-sized, not a multiple of the alignment: padding and several tiles both occur.
    // The tile is the smallest that advances (by `step`) with overlap ≥ margin, which keeps the
    // pixel count small even for a model with a wide receptive field.
    function geometry(): { width: number; height: number; tile: number; overlap: number; whole: number } {
      const a = model.manifest.alignment;
      const overlap = roundUp(model.manifest.margin, a);
      const step = Math.max(8, 2 * a);
      const tile = Math.max(32, roundUp(2 * overlap + step, a));
      // Frames (the image plus its context, aligned) of tile + 2·step by tile + step: 3 × 2 tiles.
      const pad = contextPad(model.manifest);
      const width = tile + 2 * step - pad - 3;
      const height = tile + step - pad - 3;
      return { width, height, tile, overlap, whole: tile + 2 * step };
    }

    it('returns 3 × 4h × 4w values in [-1, 1]', async () => {
      const sr = await upscaleTensor(model, pattern(21, 13), 21, 13, { t: 0.5, seed: 1 });
      expect(sr.length).toBe(3 * 52 * 84);
      let lo = Infinity;
      let hi = -Infinity;
      for (const v of sr) {
        lo = Math.min(lo, v);
        hi = Math.max(hi, v);
      }
      expect(Number.isFinite(lo) && Number.isFinite(hi)).toBe(true);
      expect(lo).toBeGreaterThanOrEqual(-1.0001);
      expect(hi).toBeLessThanOrEqual(1.0001);
    });

    it('tiled output equals whole-image output within one 8-bit level', async () => {
      const { width, height, tile, overlap, whole } = geometry();
      const rgb = pattern(width, height);
      const plan = planUpscale(model.manifest, width, height, { tile, overlap });
      expect(plan.columns).toBeGreaterThanOrEqual(3);
      expect(plan.rows).toBeGreaterThanOrEqual(2);
      expect(plan.width).toBeGreaterThan(width);
      expect(plan.height).toBeGreaterThan(height);
      const progress: number[] = [];
      const tiled = await upscaleTensor(model, rgb, width, height, {
        t: 0.7,
        seed: 7,
        tile,
        overlap,
        batch: 3,
        onProgress: (done, total) => {
          expect(total).toBe(plan.tiles.length);
          progress.push(done);
        },
      });
      expect(progress.at(-1)).toBe(plan.tiles.length);
      const single = await upscaleTensor(model, rgb, width, height, {
        t: 0.7,
        seed: 7,
        tile: whole,
        overlap: 0,
      });
      expect(planUpscale(model.manifest, width, height, { tile: whole, overlap: 0 }).tiles.length).toBe(1);
      expect(maxAbsDiff(tiled, single)).toBeLessThanOrEqual(2 / 255);
    });

    it('same seed gives identical output, another seed a different one', async () => {
      const rgb = pattern(24, 16);
      const a = await upscaleTensor(model, rgb, 24, 16, { t: 0.8, seed: 11 });
      const b = await upscaleTensor(model, rgb, 24, 16, { t: 0.8, seed: 11 });
      const c = await upscaleTensor(model, rgb, 24, 16, { t: 0.8, seed: 12 });
      expect(maxAbsDiff(a, b)).toBe(0);
      expect(maxAbsDiff(a, c)).toBeGreaterThan(0);
    });

    it('batch size does not change the result', async () => {
      const { tile, overlap, width, height } = geometry();
      const rgb = pattern(width, height);
      const one = await upscaleTensor(model, rgb, width, height, {
        t: 0.5,
        seed: 3,
        tile,
        overlap,
        batch: 1,
      });
      const many = await upscaleTensor(model, rgb, width, height, {
        t: 0.5,
        seed: 3,
        tile,
        overlap,
        batch: 8,
      });
      expect(maxAbsDiff(one, many)).toBeLessThanOrEqual(1e-5);
    });
  });
}

const tiny = tempDir();
afterAll(tiny.cleanup);
pipelineSuite('the tiny test model', async () => loadModel({ modelPath: writeTinyModel(tiny.dir).onnxPath }));

describe.skipIf(!realModelPresent())('shipped model', () => {
  pipelineSuite('the shipped model', async () => loadModel());

  it('matches the PyTorch reference output written beside it by export_onnx.py', async () => {
    const path = join(DEFAULT_MODEL_DIR, 'oftsr-student-x4.reference.json');
    if (!existsSync(path)) {
      // export_onnx.py writes the reference with the model: CI must not pass without checking it.
      expect(process.env.OFTSR_REQUIRE_MODEL, `${path} is missing`).not.toBe('1');
      return;
    }
    const ref = JSON.parse(readFileSync(path, 'utf8')) as Reference;
    const [, , h, w] = ref.lr_shape;
    const model = await loadModel();
    const size = 3 * 4 * h * 4 * w;
    for (const [k, t] of ref.t.entries()) {
      // The bare graph on the reference tile (the pipeline adds context first): its noise is
      // exactly noiseField(seed, 0, 0, 4h, 4w).
      const noise = noiseField(ref.noise_seed, 0, 0, 4 * h, 4 * w);
      const [sr] = await runTileBatch(model, [
        { lr: Float32Array.from(ref.lr), noise, t, width: w, height: h },
      ]);
      const want = Float32Array.from(ref.sr.slice(k * size, (k + 1) * size));
      expect(maxAbsDiff(sr as Float32Array, want)).toBeLessThanOrEqual(ref.tolerance);
    }
    await model.session.release();
  });

  // Contract 2: the image gets the margin of context first, so the tile list is a free choice.
  it('gives the same pixels with any tile list (frame-sized, fixed 256², 128² and 144² tiles)', async () => {
    const model = await loadModel();
    const [w, h] = [100, 60];
    const rgb = pattern(w, h);
    const run = (tiling: TilingOptions) => upscaleTensor(model, rgb, w, h, { t: 0.6, seed: 7, ...tiling });
    const plans: TilingOptions[] = [
      { tile: 160 },
      { tile: 256, fixedTile: true },
      { tile: 128 },
      { tile: 144, overlap: 64 },
    ];
    expect(plans.map((p) => planUpscale(model.manifest, w, h, p).tiles.length)).toEqual([1, 1, 3, 2]);
    const [first, ...rest] = await Promise.all(plans.map(run));
    const a = tensorToPixels(first as Float32Array, null, 4 * w, 4 * h, { channels: 3, bitDepth: 8 });
    for (const out of rest) {
      // Float: equal up to the seams' blend rounding; 8-bit: within one level.
      expect(maxAbsDiff(out, first as Float32Array)).toBeLessThan(1e-4);
      const b = tensorToPixels(out, null, 4 * w, 4 * h, { channels: 3, bitDepth: 8 });
      let levels = 0;
      for (let i = 0; i < a.length; i++)
        levels = Math.max(levels, Math.abs((a[i] as number) - (b[i] as number)));
      expect(levels).toBeLessThanOrEqual(1);
    }
    await model.session.release();
  });
});

/** `models/<name>.reference.json`: an LR input and PyTorch's output for it, per t. */
interface Reference {
  noise_seed: number;
  t: number[];
  lr_shape: [number, number, number, number];
  lr: number[];
  sr_shape: [number, number, number, number];
  sr: number[];
  tolerance: number;
}

describe('upscaleTensor options', () => {
  let model: LoadedModel;
  beforeAll(async () => {
    model = await loadModel({ modelPath: writeTinyModel(tiny.dir).onnxPath });
  });

  it('stops when aborted, with the signal reason', async () => {
    const controller = new AbortController();
    const reason = new Error('stop');
    let calls = 0;
    const run = upscaleTensor(model, pattern(64, 64), 64, 64, {
      t: 0.5,
      seed: 0,
      tile: 32,
      overlap: 8,
      signal: controller.signal,
      onProgress: () => {
        calls += 1;
        controller.abort(reason);
      },
    });
    await expect(run).rejects.toBe(reason);
    expect(calls).toBe(1);
  });

  it('rejects tiles the model cannot take', () => {
    expect(() => planUpscale(model.manifest, 64, 64, { tile: 30 })).toThrow(OftsrError);
    expect(() => planUpscale(model.manifest, 64, 64, { tile: 16, overlap: 8 })).toThrow(/twice the overlap/);
    expect(() => planUpscale(model.manifest, 64, 64, { overlap: 3 })).toThrow(/overlap must be a multiple/);
  });

  it('the noise makes t matter: t = 0 ignores the seed on the tiny model', async () => {
    const rgb = pattern(16, 16);
    const a = await upscaleTensor(model, rgb, 16, 16, { t: 0, seed: 1 });
    const b = await upscaleTensor(model, rgb, 16, 16, { t: 0, seed: 2 });
    expect(maxAbsDiff(a, b)).toBe(0);
  });
});
