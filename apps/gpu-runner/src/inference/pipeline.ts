/**
 * The tiled upscaling pipeline: pad → plan tiles → (tile + its noise) → executor → blend → crop.
 * Works on CHW float32 tensors in [-1, 1]; image decoding lives in image-io.ts. Every model call goes
 * through a {@link TileExecutor}: by default a per-call {@link MicroBatcher} over
 * {@link runTileBatch}; the server injects its shared batcher so tiles from concurrent requests
 * share model calls. One path for the CLI and the server.
 */
import { Tensor } from 'onnxruntime-node';
import {
  NoiseCache,
  OftsrError,
  elementCount,
  expectOutputShape,
  modelFeeds,
  planUpscale,
  tensorShapes,
  upscaleTiles,
} from '@oftsr/shared';
import type { TileExecutor, TileInput, TilingOptions } from '@oftsr/shared';
import { MicroBatcher } from './batcher.ts';
import type { LoadedModel } from './onnx-session.ts';

/** What the pipeline needs of a model: its manifest, and its session unless an executor is given. */
export type PipelineModel = Pick<LoadedModel, 'manifest'> & { session?: LoadedModel['session'] };

// The driver, its tile types and the planner live in @oftsr/shared (the browser SDK runs the same
// code); re-exported so the runner's modules keep one import site.
export { planUpscale };
export type { TileExecutor, TileInput, TilingOptions };

/**
 * The process's noise (CLI and server alike): 256 MiB holds the single window of each input up to
 * 256² and the three row bands of a 512² input (72 MiB) at one seed, so repeated geometry costs no
 * noise at all; a 1024² input's seven bands (336 MiB) do not fit, and are computed each time
 * (bench/runner/STAGES.md).
 */
export const RUNNER_NOISE_CACHE = new NoiseCache({ maxBytes: 256 * 2 ** 20 });

/**
 * Stacks equal-shaped tiles into `[N, 3, h, w]` (the contract's `tensorShapes`), runs the session
 * once and splits the output.
 *
 * @throws OftsrError `model_contract` when the tiles differ in shape, are not aligned, or the output
 *   has the wrong shape.
 */
export async function runTileBatch(
  model: Pick<LoadedModel, 'manifest' | 'session'>,
  tiles: readonly TileInput[],
): Promise<Float32Array[]> {
  const first = tiles[0];
  if (!first) return [];
  const { width: tw, height: th } = first;
  const n = tiles.length;
  const shapes = tensorShapes(model.manifest, n, th, tw);
  const inSize = elementCount(shapes.lr) / n;
  const outSize = elementCount(shapes.sr) / n;
  const data = {
    lr: new Float32Array(elementCount(shapes.lr)),
    noise: new Float32Array(elementCount(shapes.noise)),
    t: new Float32Array(elementCount(shapes.t)),
  };
  tiles.forEach((tile, k) => {
    if (tile.width !== tw || tile.height !== th) {
      throw new OftsrError(
        'model_contract',
        `a batch mixes tile shapes ${th}×${tw} and ${tile.height}×${tile.width}`,
      );
    }
    data.lr.set(tile.lr, k * inSize);
    data.noise.set(tile.noise, k * outSize);
    data.t[k] = tile.t;
  });
  const results = await model.session.run(
    modelFeeds(shapes, (name, dims) => new Tensor('float32', data[name], dims)),
  );
  const sr = results.sr;
  expectOutputShape(shapes, sr);
  const out = (sr as Tensor).data as Float32Array;
  return tiles.map((_, k) => out.subarray(k * outSize, (k + 1) * outSize));
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
  /** Where tile noise comes from; default {@link RUNNER_NOISE_CACHE}, `null` computes it per tile. */
  noiseCache?: NoiseCache | null;
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
  const { manifest } = model;
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
  const { batch: _batch, executor: _executor, inFlight, noiseCache, ...rest } = options;
  const cache = noiseCache === undefined ? RUNNER_NOISE_CACHE : noiseCache;
  return upscaleTiles(manifest, rgb, width, height, {
    ...rest,
    ...(cache ? { noiseCache: cache } : {}),
    executor,
    inFlight: Math.max(1, Math.floor(inFlight ?? batch)),
  });
}
