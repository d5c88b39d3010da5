/**
 * The tiled upscaling driver every runtime shares: pad → plan tiles → (tile + its noise) → executor →
 * blend → crop, on CHW float32 RGB in [-1, 1]. Model calls go through a {@link TileExecutor}, so
 * the runner (onnxruntime-node, micro-batched) and the browser SDK (onnxruntime-web in a worker)
 * differ only there, and the same seed gives the same image on both.
 */
import { OftsrError } from './errors.ts';
import type { ModelManifest } from './contract.ts';
import { fillNoise, noiseField } from './noise.ts';
import type { NoiseCache } from './noise.ts';
import { TileBlender, cropChw, padReplicate, padSize, planTiles } from './tiling.ts';
import type { Tile, TilePlan } from './tiling.ts';

/** The model always sees RGB. */
const CHANNELS = 3;

/** What the driver needs of an abort signal (a DOM/Node `AbortSignal` fits; no lib types here). */
export interface SignalLike {
  readonly aborted: boolean;
  readonly reason?: unknown;
  throwIfAborted(): void;
}

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

/** Where the driver sends each tile. Implementations may batch tiles across callers. */
export interface TileExecutor {
  /** Resolves with the tile's output, or rejects with `signal.reason` when it aborts first. */
  run(tile: TileInput, signal?: SignalLike): Promise<Float32Array>;
}

/** Tiling options of {@link planUpscale} and {@link upscaleTiles}; LR pixels. */
export interface TilingOptions {
  /** Input tile size, a multiple of the model's alignment; default `manifest.tile`. */
  tile?: number;
  /** Context per side; default `manifest.margin` rounded up to the alignment (the exact minimum). */
  overlap?: number;
  /**
   * Pad (replicate) images smaller than `tile` up to it, so every tile is exactly `tile × tile`: a
   * fixed set of tile shapes can be warmed up, batched, or compiled once (fixed-shape sessions).
   */
  fixedTile?: boolean;
}

/** Options of {@link upscaleTiles}. */
export interface TiledUpscaleOptions extends TilingOptions {
  /** Strength in [0, 1], fed to the model's `t` input. */
  t: number;
  /** uint32 seed of the noise field. */
  seed: number;
  /** Runs the tiles. */
  executor: TileExecutor;
  /** Tiles submitted at once (bounds memory: each holds its noise); default 1. */
  inFlight?: number;
  /** Called after each tile with (tiles done, tiles total). */
  onProgress?: (done: number, total: number) => void;
  /** Aborts between tiles (queued tiles are dropped); the promise rejects with the signal's reason. */
  signal?: SignalLike;
  /**
   * Where tile noise comes from: windows recur across requests (same seed, same tile grid), so a
   * shared cache skips recomputing them. Default: computed per tile. Each tile still gets its own
   * copy, which its executor may keep, write or transfer.
   */
  noiseCache?: NoiseCache;
}

function roundUp(value: number, step: number): number {
  return Math.ceil(value / step) * step;
}

/**
 * The tile sizes the SDK and the CLI use by default, and the runner's on execution providers other
 * than the CPU (`OFTSR_TILE_SIZES`). Not part of the pixel contract (any list gives the same pixels,
 * see {@link frameSize}): a size trades padding work against warmed shapes. 320² holds a 256²
 * input with its context in one tile (1.56× its pixels; 256² tiles would take four); larger sizes
 * are left out for WebGPU, whose buffer limits 512² tensors outgrow.
 */
export const DEFAULT_TILE_SIZES: readonly number[] = [128, 256, 320];

/**
 * LR pixels of context every image is given on its right and bottom before tiling (contract 2):
 * its last column and row replicated `margin` times, rounded up to the alignment. Every output pixel
 * of the image then depends on image pixels alone, whatever further padding a tile list adds; the
 * left and top need none, since every plan starts its first tile there.
 *
 * @example contextPad({ margin: 53, alignment: 4 }) // 56
 */
export function contextPad(manifest: Pick<ModelManifest, 'margin' | 'alignment'>): number {
  return roundUp(manifest.margin, manifest.alignment);
}

/**
 * The frame an image is tiled in: the image plus {@link contextPad} on the right and bottom,
 * rounded up to the alignment. Tiles cover the frame (or, with `fixedTile`, at least one tile);
 * the output is cropped back to the image.
 *
 * @example frameSize({ margin: 53, alignment: 4 }, 256, 250) // { width: 312, height: 308 }
 */
export function frameSize(
  manifest: Pick<ModelManifest, 'margin' | 'alignment'>,
  width: number,
  height: number,
): { width: number; height: number } {
  const pad = contextPad(manifest);
  return padSize(width + pad, height + pad, manifest.alignment);
}

/**
 * The tile size a fixed set of sizes gives an image: the smallest that holds its whole
 * {@link frameSize} as one tile, else the largest, so every tile has one of a few warmed shapes.
 *
 * @example chooseTile([128, 256, 320], { margin: 53, alignment: 4 }, 256, 256) // 320
 */
export function chooseTile(
  tileSizes: readonly number[],
  manifest: Pick<ModelManifest, 'margin' | 'alignment'>,
  width: number,
  height: number,
): number {
  const frame = frameSize(manifest, width, height);
  const side = Math.max(frame.width, frame.height);
  return tileSizes.find((t) => t >= side) ?? (tileSizes.at(-1) as number);
}

/**
 * Plans the tiles for an image of `width`×`height` LR pixels over its {@link frameSize} (and, with
 * `fixedTile`, at least one tile). Lets callers count tiles (for a progress bar) before decoding.
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
  const padded = frameSize(manifest, width, height);
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

/**
 * Noise for the tiles of a multi-tile plan, one row band at a time: a band is the noise of the
 * output rows of one tile row across the whole padded width, so the windows of overlapping tiles
 * are cut from it instead of computed again (~2.25× less work at 256² tiles), and the rows a band
 * shares with the previous one are copied, not computed. Values are exactly {@link fillNoise}'s.
 * With a cache, whole bands are kept across requests (a 512² input's three bands are 72 MiB).
 *
 * @example
 * const bands = new NoiseBands(seed, plan, 4, cache);
 * for (const tile of plan.tiles) run(tile, bands.window(tile));
 */
export class NoiseBands {
  private y0 = -1;
  private band: Float32Array | null = null;

  private readonly seed: number;
  private readonly plan: TilePlan;
  private readonly scale: number;
  private readonly cache: NoiseCache | undefined;

  constructor(seed: number, plan: TilePlan, scale: number, cache?: NoiseCache) {
    this.seed = seed;
    this.plan = plan;
    this.scale = scale;
    this.cache = cache;
  }

  /** The tile's noise window, `3 × s·th × s·tw`, as a fresh array; tiles come in row-major order. */
  window(tile: Tile): Float32Array {
    const s = this.scale;
    const { tileWidth: tw, tileHeight: th, width } = this.plan;
    const H = s * th;
    const W = s * width;
    if (this.y0 !== s * tile.y) {
      const y0 = s * tile.y;
      const compute = (): Float32Array => this.computeBand(y0, H, W);
      this.band = this.cache ? this.cache.get(this.seed, y0, 0, H, W, CHANNELS, compute) : compute();
      this.y0 = y0;
    }
    const band = this.band as Float32Array;
    const w = s * tw;
    const out = new Float32Array(CHANNELS * H * w);
    for (let c = 0; c < CHANNELS; c++) {
      for (let v = 0; v < H; v++) {
        const src = (c * H + v) * W + s * tile.x;
        out.set(band.subarray(src, src + w), (c * H + v) * w);
      }
    }
    return out;
  }

  private computeBand(y0: number, H: number, W: number): Float32Array {
    const band = new Float32Array(CHANNELS * H * W);
    const prev = this.band;
    // Rows [y0, this.y0 + H) were in the previous band (tile rows advance downwards).
    const shared = prev && this.y0 >= 0 && y0 > this.y0 ? Math.max(0, this.y0 + H - y0) : 0;
    if (prev && shared > 0) {
      for (let c = 0; c < CHANNELS; c++) {
        const src = (c * H + (y0 - this.y0)) * W;
        band.set(prev.subarray(src, src + shared * W), c * H * W);
      }
    }
    const rest = noiseField(this.seed, y0 + shared, 0, H - shared, W, CHANNELS);
    for (let c = 0; c < CHANNELS; c++) {
      band.set(rest.subarray(c * (H - shared) * W, (c + 1) * (H - shared) * W), (c * H + shared) * W);
    }
    return band;
  }
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
 * Upscales a CHW float32 RGB image in [-1, 1] by the model's scale (×4), one executor call per tile.
 *
 * The image is replicate-padded to its {@link frameSize} (and up to the tile with `fixedTile`), and
 * every tile gets the noise of its own output window (`noiseField(seed, 4·y, 4·x, 4·h, 4·w)`, the
 * frame's origin being the image's), so the result depends on neither the tile list, nor the
 * order, nor the batching: any two plans agree up to float rounding in their seams' blend.
 *
 * @returns CHW float32, `3 × 4·height × 4·width`, in [-1, 1].
 * @throws OftsrError `bad_param` for bad tiling options; whatever the executor throws; the signal's
 *   reason when aborted.
 * @example
 * const sr = await upscaleTiles(manifest, rgb, 64, 48, { t: 0.5, seed: 0, executor });
 */
export async function upscaleTiles(
  manifest: ModelManifest,
  rgb: Float32Array,
  width: number,
  height: number,
  options: TiledUpscaleOptions,
): Promise<Float32Array> {
  if (rgb.length !== CHANNELS * width * height) {
    throw new RangeError(`expected 3×${height}×${width} values, got ${rgb.length}`);
  }
  const s = manifest.scale;
  const plan = planUpscale(manifest, width, height, options);
  const { executor, signal } = options;
  const padded =
    plan.width === width && plan.height === height
      ? rgb
      : padReplicate(rgb, CHANNELS, width, height, plan.width, plan.height);
  const { tileWidth: tw, tileHeight: th } = plan;
  const total = plan.tiles.length;
  // One tile covering the image has weight 1 everywhere: its output is the blend, bit for bit.
  const single = total === 1 && tw === plan.width && th === plan.height;
  const blender = single
    ? null
    : new TileBlender(plan, { channels: CHANNELS, scale: s, margin: manifest.margin });
  let whole: Float32Array | null = null;
  const { noiseCache } = options;
  const bands = total > 1 ? new NoiseBands(options.seed, plan, s, noiseCache) : null;
  const inFlight = Math.max(1, Math.floor(options.inFlight ?? 1));
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
      const noise = bands
        ? bands.window(tile)
        : noiseCache
          ? // A copy: executors own their inputs (the runner's worker transfers them away).
            noiseCache.get(options.seed, s * tile.y, s * tile.x, s * th, s * tw, CHANNELS).slice()
          : fillNoise(
              new Float32Array(CHANNELS * tw * s * th * s),
              options.seed,
              s * tile.y,
              s * tile.x,
              s * th,
              s * tw,
            );
      const out = await executor.run({ lr, noise, t: options.t, width: tw, height: th }, signal);
      if (failed) return;
      signal?.throwIfAborted();
      if (blender) blender.add(tile.index, out);
      else whole = out;
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
  const result = blender ? blender.result() : (whole as Float32Array | null);
  if (!result) throw new Error('tile 0 has not been added');
  if (plan.width === width && plan.height === height) return result;
  return cropChw(result, CHANNELS, plan.width * s, plan.height * s, width * s, height * s);
}
