/**
 * The tiled upscaling pipeline: pad → plan tiles → (tile + its noise) → executor → blend → crop.
 * Works on CHW float32 tensors in [-1, 1]; image decoding lives in image-io.ts. Every model call goes
 * through a {@link TileExecutor}: by default a per-call {@link MicroBatcher} over
 * {@link runTileBatch}; the server injects its shared batcher so tiles from concurrent requests
 * share model calls. One path for the CLI and the server.
 */
import { Tensor } from 'onnxruntime-node';
import { NoiseCache, OftsrError, planUpscale, upscaleTiles } from '@oftsr/shared';
import type { TileExecutor, TileInput, TilingOptions } from '@oftsr/shared';
import { MicroBatcher } from './batcher.ts';
import type { LoadedModel } from './onnx-session.ts';

/** The model always sees RGB. */
const CHANNELS = 3;

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
