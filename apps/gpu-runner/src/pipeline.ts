/**
 * The tiled upscaling pipeline: pad → plan tiles → (tile + its noise) → model → blend → crop.
 * Works on CHW float32 tensors in [-1, 1]; image decoding lives in image-io.ts.
 */
import { Tensor } from 'onnxruntime-node';
import { OftsrError, TileBlender, cropChw, fillNoise, padReplicate, padSize, planTiles } from '@oftsr/shared';
import type { ModelManifest, Tile, TilePlan } from '@oftsr/shared';
import type { LoadedModel } from './session.ts';

/** The model always sees RGB. */
const CHANNELS = 3;

/** Tiling options shared by {@link planUpscale} and {@link upscaleTensor}; LR pixels. */
export interface TilingOptions {
  /** Input tile size, a multiple of the model's alignment; default `manifest.tile`. */
  tile?: number;
  /** Context per side; default `manifest.margin` rounded up to the alignment (the exact minimum). */
  overlap?: number;
}

/** Options of {@link upscaleTensor}. */
export interface UpscaleOptions extends TilingOptions {
  /** Strength in [0, 1], fed to the model's `t` input. */
  t: number;
  /** uint32 seed of the noise field. */
  seed: number;
  /** Tiles per model call (all tiles share one shape); default 1. More helps on GPU. */
  batch?: number;
  /** Called after each tile with (tiles done, tiles total). */
  onProgress?: (done: number, total: number) => void;
  /** Aborts between model calls; the promise rejects with the signal's reason. */
  signal?: AbortSignal;
}

function roundUp(value: number, step: number): number {
  return Math.ceil(value / step) * step;
}

/**
 * Plans the tiles for an image of `width`×`height` LR pixels under the model's alignment, after
 * padding to that alignment. Lets callers count tiles (for a progress bar) before decoding.
 *
 * @throws OftsrError `bad_param` (field `tile` or `overlap`) for sizes the model cannot take.
 */
export function planUpscale(
  manifest: ModelManifest,
  width: number,
  height: number,
  options: TilingOptions = {},
): TilePlan {
  const a = manifest.alignment;
  const tile = options.tile ?? manifest.tile;
  const overlap = options.overlap ?? roundUp(manifest.margin, a);
  if (!Number.isInteger(tile) || tile < a || tile % a !== 0) {
    throw new OftsrError('bad_param', `tile must be a positive multiple of ${a} (got ${tile})`, {
      field: 'tile',
      allowed: `a multiple of ${a}`,
    });
  }
  if (!Number.isInteger(overlap) || overlap < 0 || overlap % a !== 0) {
    throw new OftsrError('bad_param', `overlap must be a multiple of ${a} (got ${overlap})`, {
      field: 'overlap',
      allowed: `a multiple of ${a}`,
    });
  }
  if (tile <= 2 * overlap) {
    throw new OftsrError('bad_param', `tile (${tile}) must be larger than twice the overlap (${overlap})`, {
      field: 'tile',
    });
  }
  const padded = padSize(width, height, a);
  return planTiles({ width: padded.width, height: padded.height, tile, overlap, alignment: a });
}

/** Copies tile `tile` (plan.tileWidth × plan.tileHeight) out of the padded CHW image into `out`. */
function extractTile(padded: Float32Array, plan: TilePlan, tile: Tile, out: Float32Array): void {
  const { width, height, tileWidth: tw, tileHeight: th } = plan;
  for (let c = 0; c < CHANNELS; c++) {
    for (let y = 0; y < th; y++) {
      const src = (c * height + tile.y + y) * width + tile.x;
      out.set(padded.subarray(src, src + tw), (c * th + y) * tw);
    }
  }
}

/**
 * Upscales a CHW float32 RGB image in [-1, 1] by the model's scale (×4).
 *
 * Every tile gets the noise of its own output window (`noiseField(seed, 4·y, 4·x, 4·h, 4·w)` in
 * padded-image output coordinates), so the result does not depend on tile size, order or batch.
 *
 * @returns CHW float32, `3 × 4·height × 4·width`, in [-1, 1].
 * @throws OftsrError `bad_param` for bad tiling options; `model_contract` when the model's output
 *   has the wrong shape; the signal's reason when aborted.
 * @example
 * const sr = await upscaleTensor(model, rgb, 64, 48, { t: 0.5, seed: 0 });
 */
export async function upscaleTensor(
  model: LoadedModel,
  rgb: Float32Array,
  width: number,
  height: number,
  options: UpscaleOptions,
): Promise<Float32Array> {
  if (rgb.length !== CHANNELS * width * height) {
    throw new RangeError(`expected 3×${height}×${width} values, got ${rgb.length}`);
  }
  const { manifest, session } = model;
  const s = manifest.scale;
  const plan = planUpscale(manifest, width, height, options);
  const batch = Math.max(1, Math.floor(options.batch ?? 1));
  const padded =
    plan.width === width && plan.height === height
      ? rgb
      : padReplicate(rgb, CHANNELS, width, height, plan.width, plan.height);
  const blender = new TileBlender(plan, { channels: CHANNELS, scale: s, margin: manifest.margin });
  const { tileWidth: tw, tileHeight: th } = plan;
  const inSize = CHANNELS * tw * th;
  const outSize = CHANNELS * tw * s * th * s;
  const total = plan.tiles.length;
  let done = 0;

  for (let first = 0; first < total; first += batch) {
    options.signal?.throwIfAborted();
    const tiles = plan.tiles.slice(first, first + batch);
    const n = tiles.length;
    const lr = new Float32Array(n * inSize);
    const noise = new Float32Array(n * outSize);
    tiles.forEach((tile, k) => {
      extractTile(padded, plan, tile, lr.subarray(k * inSize, (k + 1) * inSize));
      fillNoise(
        noise.subarray(k * outSize, (k + 1) * outSize),
        options.seed,
        s * tile.y,
        s * tile.x,
        s * th,
        s * tw,
      );
    });
    const feeds = {
      lr: new Tensor('float32', lr, [n, CHANNELS, th, tw]),
      noise: new Tensor('float32', noise, [n, CHANNELS, th * s, tw * s]),
      t: new Tensor('float32', new Float32Array(n).fill(options.t), [n]),
    };
    const results = await session.run(feeds);
    const sr = results.sr;
    const dims = sr?.dims ?? [];
    if (!sr || sr.type !== 'float32' || dims.join() !== [n, CHANNELS, th * s, tw * s].join()) {
      throw new OftsrError(
        'model_contract',
        `model output sr has shape [${dims.join(', ')}], expected [${[n, CHANNELS, th * s, tw * s].join(', ')}]`,
      );
    }
    const data = sr.data as Float32Array;
    tiles.forEach((tile, k) => {
      blender.add(tile.index, data.subarray(k * outSize, (k + 1) * outSize));
    });
    done += n;
    options.onProgress?.(done, total);
  }
  options.signal?.throwIfAborted();
  return cropChw(blender.result(), CHANNELS, plan.width * s, plan.height * s, width * s, height * s);
}
