/**
 * What one upscale costs, known from the image header before anything is decoded: the tiles the
 * model runs (their area, not the image's, decides the time: a 8192×4 strip is padded to 57 tiles
 * of 256²) and the bytes the decode, the tensors and the blend hold at once. Every runtime that
 * admits work prices it here, so the CLI and the service refuse alike.
 */
import type { ModelManifest } from './contract.ts';
import { chooseTile, DEFAULT_TILE_SIZES, planUpscale } from './pipeline.ts';

/**
 * The default limit on input pixels (width × height), for the service and the CLI alike: 4 MP,
 * e.g. 2000 × 2000. The edge's `MAX_SOURCE_PIXELS` defaults to the same.
 */
export const DEFAULT_MAX_INPUT_PIXELS = 4_000_000;

/**
 * The default limit on output pixels (after ×sr): the output of the largest default input at ×4.
 */
export const DEFAULT_MAX_OUTPUT_PIXELS = 16 * DEFAULT_MAX_INPUT_PIXELS;

/** The price of one upscale. */
export interface UpscaleWork {
  /** LR tile size chosen (`chooseTile`). */
  tile: number;
  /** Tiles the model runs. */
  tiles: number;
  /** Tile area the model runs, LR pixels: `tiles × tile²` (the time). */
  tilePixels: number;
  /** Output pixels at the model's scale (before an `sr=2` downscale). */
  outputPixels: number;
  /** Working memory the request holds at its peak, bytes (an upper bound; the memory). */
  bytes: number;
}

/** Options of {@link priceUpscale}. */
export interface PriceOptions {
  /** Tile sizes the runtime uses; default {@link DEFAULT_TILE_SIZES}. */
  tileSizes?: readonly number[];
  /** Whether images smaller than their tile are padded up to it (as the runtime runs); default true. */
  fixedTile?: boolean;
  /** Tiles in flight at once (each holds its input, noise and output); default 4. */
  inFlight?: number;
}

const F32 = 4;

/**
 * Prices an upscale of a `width`×`height` image: tiles as the pipeline plans them (fixed tiles,
 * padded like every runtime), and the bytes held at the peak — decoded samples (≤ 16-bit RGBA),
 * the RGB and alpha tensors, the padded input, the blend accumulator at output size over the padded
 * image, the cropped result, the upscaled alpha, the output samples and the encoder's copy, and the
 * tiles in flight.
 *
 * @example priceUpscale(manifest, 8192, 4).tiles // 57 for the shipped model (256² tiles, 56 px overlap)
 */
export function priceUpscale(
  manifest: ModelManifest,
  width: number,
  height: number,
  options: PriceOptions = {},
): UpscaleWork {
  const tileSizes = options.tileSizes ?? DEFAULT_TILE_SIZES;
  const inFlight = Math.max(1, options.inFlight ?? 4);
  const s = manifest.scale;
  const fixedTile = options.fixedTile ?? true;
  const tile = chooseTile(tileSizes, manifest, width, height);
  const plan = planUpscale(manifest, width, height, { tile, fixedTile });
  const tiles = plan.tiles.length;
  const tileArea = plan.tileWidth * plan.tileHeight;
  const inPx = width * height;
  const outPx = inPx * s * s;
  const paddedOutPx = plan.width * plan.height * s * s;
  const bytes =
    inPx * (4 * 2 + 3 * F32 + F32) + // decoded samples, RGB and alpha tensors
    plan.width * plan.height * 3 * F32 + // padded input
    paddedOutPx * 3 * F32 + // blend accumulator
    outPx * (3 * F32 + F32) + // cropped RGB, upscaled alpha
    outPx * 4 * 2 * 2 + // output samples and the encoder's copy
    inFlight * tileArea * (3 + 2 * 3 * s * s) * F32; // tiles in flight: input, noise, output
  return { tile, tiles, tilePixels: tiles * tileArea, outputPixels: outPx, bytes };
}
