/**
 * The tiled upscaling pipeline: pad → plan tiles → (tile + its noise) → executor → blend → crop.
 * Works on CHW float32 tensors in [-1, 1]; image decoding lives in image-io.ts. Every model call goes
 * through a {@link TileExecutor}: by default a per-call {@link MicroBatcher} over
 * {@link runTileBatch}; the server injects its shared batcher so tiles from concurrent requests
 * share model calls. One path for the CLI and the server.
 */
import { Tensor } from 'onnxruntime-node';
import { OftsrError, TileBlender, cropChw, fillNoise, padReplicate, padSize, planTiles } from '@oftsr/shared';
import type { ModelManifest, Tile, TilePlan } from '@oftsr/shared';
import { MicroBatcher } from './batcher.ts';
import type { LoadedModel } from './session.ts';

/** The model always sees RGB. */
const CHANNELS = 3;

/** What the pipeline needs of a model: its manifest, and its session unless an executor is given. */
export type PipelineModel = Pick<LoadedModel, 'manifest'> & { session?: LoadedModel['session'] };

/** One tile's model inputs: CHW LR pixels, the noise of its output window, and its strength. */
export interface TileInput {
  /** `3 × height × width`, in [-1, 1]. */
  lr: Float32Array;
  /** `3 × scale·height × scale·width`. */
  noise: Float32Array;
  t: number;
  /** LR tile size. */
  width: number;
  height: number;
}

/** Runs equal-shaped tiles in one model call; outputs in input order, each `3 × s·h × s·w`. */
export type RunBatch = (tiles: readonly TileInput[]) => Promise<Float32Array[]>;

/** Where the pipeline sends each tile. Implementations may batch tiles across callers. */
export interface TileExecutor {
  /** Resolves with the tile's output, or rejects with `signal.reason` when it aborts first. */
  run(tile: TileInput, signal?: AbortSignal): Promise<Float32Array>;
}

/**
 * Stacks equal-shaped tiles into `[N, 3, h, w]`, runs the session once and splits the output.
 *
 * @throws OftsrError `model_contract` when the tiles differ in shape or the output has the wrong shape.
 */
export async function runTileBatch(
  model: Pick<LoadedModel, 'manifest' | 'session'>,
  tiles: readonly TileInput[],
): Promise<Float32Array[]> {
  const first = tiles[0];
  if (!first) return [];
  const s = model.manifest.scale;
  const { width: tw, height: th } = first;
  const n = tiles.length;
  const inSize = CHANNELS * tw * th;
  const outSize = inSize * s * s;
  const lr = new Float32Array(n * inSize);
  const noise = new Float32Array(n * outSize);
  const t = new Float32Array(n);
  tiles.forEach((tile, k) => {
    if (tile.width !== tw || tile.height !== th) {
      throw new OftsrError(
        'model_contract',
        `a batch mixes tile shapes ${th}×${tw} and ${tile.height}×${tile.width}`,
      );
    }
    lr.set(tile.lr, k * inSize);
    noise.set(tile.noise, k * outSize);
    t[k] = tile.t;
  });
  const results = await model.session.run({
    lr: new Tensor('float32', lr, [n, CHANNELS, th, tw]),
    noise: new Tensor('float32', noise, [n, CHANNELS, th * s, tw * s]),
    t: new Tensor('float32', t, [n]),
  });
  const sr = results.sr;
  const dims = sr?.dims ?? [];
  const want = [n, CHANNELS, th * s, tw * s];
  if (!sr || sr.type !== 'float32' || dims.join() !== want.join()) {
    throw new OftsrError(
      'model_contract',
      `model output sr has shape [${dims.join(', ')}], expected [${want.join(', ')}]`,
    );
  }
  const data = sr.data as Float32Array;
  return tiles.map((_, k) => data.subarray(k * outSize, (k + 1) * outSize));
}

/** Tiling options shared by {@link planUpscale} and {@link upscaleTensor}; LR pixels. */
export interface TilingOptions {
  /** Input tile size, a multiple of the model's alignment; default `manifest.tile`. */
  tile?: number;
  /** Context per side; default `manifest.margin` rounded up to the alignment (the exact minimum). */
  overlap?: number;
  /**
   * Pad (replicate) images smaller than `tile` up to it, so every tile is exactly `tile × tile`. The
   * server sets it: a fixed set of tile shapes can be warmed up and batched across requests.
   */
  fixedTile?: boolean;
}

/** Options of {@link upscaleTensor}. */
export interface UpscaleOptions extends TilingOptions {
  /** Strength in [0, 1], fed to the model's `t` input. */
  t: number;
  /** uint32 seed of the noise field. */
  seed: number;
  /** Tiles per model call with the default executor (all tiles share one shape); default 1. */
  batch?: number;
  /** Runs the tiles; default a {@link MicroBatcher} of `batch` over this model's session. */
  executor?: TileExecutor;
  /** Tiles submitted at once (bounds memory: each holds its noise); default `batch`, at least 1. */
  inFlight?: number;
  /** Called after each tile with (tiles done, tiles total). */
  onProgress?: (done: number, total: number) => void;
  /** Aborts between tiles (queued tiles are dropped); the promise rejects with the signal's reason. */
  signal?: AbortSignal;
}

function roundUp(value: number, step: number): number {
  return Math.ceil(value / step) * step;
}

/**
 * Plans the tiles for an image of `width`×`height` LR pixels under the model's alignment, after
 * padding to that alignment (and, with `fixedTile`, to at least one tile). Lets callers count tiles
 * (for a progress bar) before decoding.
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
  const padded = padSize(width, height, a);
  const w = options.fixedTile ? Math.max(padded.width, tile) : padded.width;
  const h = options.fixedTile ? Math.max(padded.height, tile) : padded.height;
  // One tile covers the whole image: there are no seams, so the overlap plays no part.
  if (w <= tile && h <= tile) return planTiles({ width: w, height: h, tile, overlap: 0, alignment: a });
  if (tile <= 2 * overlap) {
    throw new OftsrError('bad_param', `tile (${tile}) must be larger than twice the overlap (${overlap})`, {
      field: 'tile',
    });
  }
  return planTiles({ width: w, height: h, tile, overlap, alignment: a });
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
  model: PipelineModel,
  rgb: Float32Array,
  width: number,
  height: number,
  options: UpscaleOptions,
): Promise<Float32Array> {
  if (rgb.length !== CHANNELS * width * height) {
    throw new RangeError(`expected 3×${height}×${width} values, got ${rgb.length}`);
  }
  const { manifest } = model;
  const s = manifest.scale;
  const plan = planUpscale(manifest, width, height, options);
  const batch = Math.max(1, Math.floor(options.batch ?? 1));
  let executor = options.executor;
  if (!executor) {
    const { session } = model;
    if (!session) throw new TypeError('upscaleTensor needs a model with a session, or an executor');
    executor = new MicroBatcher({
      runBatch: (tiles) => runTileBatch({ manifest, session }, tiles),
      maxBatch: batch,
      maxDelayMs: 0,
    });
  }
  const padded =
    plan.width === width && plan.height === height
      ? rgb
      : padReplicate(rgb, CHANNELS, width, height, plan.width, plan.height);
  const blender = new TileBlender(plan, { channels: CHANNELS, scale: s, margin: manifest.margin });
  const { tileWidth: tw, tileHeight: th } = plan;
  const total = plan.tiles.length;
  const inFlight = Math.max(1, Math.floor(options.inFlight ?? batch));
  const { signal } = options;
  let next = 0;
  let done = 0;
  let failed = false;

  // A small pool of workers keeps `inFlight` tiles submitted; each blends its own results.
  const worker = async (): Promise<void> => {
    while (!failed) {
      signal?.throwIfAborted();
      const tile = plan.tiles[next++];
      if (!tile) return;
      const lr = new Float32Array(CHANNELS * tw * th);
      extractTile(padded, plan, tile, lr);
      const noise = new Float32Array(CHANNELS * tw * s * th * s);
      fillNoise(noise, options.seed, s * tile.y, s * tile.x, s * th, s * tw);
      const out = await executor.run({ lr, noise, t: options.t, width: tw, height: th }, signal);
      if (failed) return;
      signal?.throwIfAborted();
      blender.add(tile.index, out);
      done += 1;
      options.onProgress?.(done, total);
    }
  };
  await Promise.all(
    Array.from({ length: Math.min(inFlight, total) }, () =>
      worker().catch((err: unknown) => {
        failed = true;
        throw err;
      }),
    ),
  );
  signal?.throwIfAborted();
  return cropChw(blender.result(), CHANNELS, plan.width * s, plan.height * s, width * s, height * s);
}
