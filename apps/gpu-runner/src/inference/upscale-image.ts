/**
 * One image end to end: raw pixels → tensor → tiled model run → pixels → encoded bytes. Alpha never
 * goes through the model: it is upscaled on its own (bicubic) and re-attached.
 */
import { pixelsToTensor, resizeBicubic, resolveOutputSize, tensorToPixels } from '@oftsr/shared';
import type { EncodedFormat, RequestParams } from '@oftsr/shared';
import { encodeImage, resolveFormat } from '../io/image-io.ts';
import type { DecodedImage } from '../io/image-io.ts';
import { upscaleTensor } from './pipeline.ts';
import type { PipelineModel, TileExecutor, TilingOptions } from './pipeline.ts';

/** Options of {@link upscaleImage} beyond the request parameters. */
export interface UpscaleImageOptions extends TilingOptions {
  batch?: number;
  /** Runs the tiles (the server's shared batcher); default a per-call batcher of `batch`. */
  executor?: TileExecutor;
  /** Tiles submitted at once; see {@link UpscaleOptions.inFlight}. */
  inFlight?: number;
  onProgress?: (done: number, total: number) => void;
  signal?: AbortSignal;
  /** Overrides `params.format` resolution, e.g. when an output file name fixed the format. */
  format?: EncodedFormat;
  /** Filled in with the milliseconds spent in the model pipeline and in encoding. */
  timings?: { inferMs?: number; encodeMs?: number };
}

/** An encoded result. */
export interface UpscaledImage {
  data: Buffer;
  format: EncodedFormat;
  width: number;
  height: number;
}

/**
 * Upscales a decoded image by `params.sr`, or to its `width`/`height` box (`resolveOutputSize`), and
 * encodes it. `sr = 2` runs the ×4 model and then a Lanczos-3 downscale, which looks better than a
 * ×2 model of the same cost would; a box is one Lanczos-3 resize (and centre crop for `cover`) of the ×4.
 *
 * @example
 * const out = await upscaleImage(model, await decodeImage('cat.png'), parseParamsFromJson({ t: 0.7 }));
 */
export async function upscaleImage(
  model: PipelineModel,
  image: DecodedImage,
  params: RequestParams,
  options: UpscaleImageOptions = {},
): Promise<UpscaledImage> {
  const { width, height, channels, bitDepth } = image;
  const scale = model.manifest.scale;
  const { rgb, alpha } = pixelsToTensor(image.pixels, width, height, channels, bitDepth);
  const inferStart = performance.now();
  const sr = await upscaleTensor(model, rgb, width, height, {
    t: params.t,
    seed: params.seed,
    ...(options.tile === undefined ? {} : { tile: options.tile }),
    ...(options.overlap === undefined ? {} : { overlap: options.overlap }),
    ...(options.fixedTile === undefined ? {} : { fixedTile: options.fixedTile }),
    ...(options.executor ? { executor: options.executor } : {}),
    ...(options.inFlight === undefined ? {} : { inFlight: options.inFlight }),
    ...(options.batch === undefined ? {} : { batch: options.batch }),
    ...(options.onProgress ? { onProgress: options.onProgress } : {}),
    ...(options.signal ? { signal: options.signal } : {}),
  });
  const encodeStart = performance.now();
  if (options.timings) options.timings.inferMs = encodeStart - inferStart;
  const W = width * scale;
  const H = height * scale;
  const alphaUp = alpha ? resizeBicubic(alpha, width, height, W, H) : null;
  const pixels = tensorToPixels(sr, alphaUp, W, H, { channels, bitDepth });
  const format = options.format ?? resolveFormat(params.format, image.sourceFormat);
  // A sized request (width/height/fit) or sr = 2: one Lanczos-3 resize from the ×4 result.
  const out = resolveOutputSize(params, width, height);
  const target =
    out.width === W && out.height === H
      ? null
      : { width: out.width, height: out.height, fit: out.crop ? ('cover' as const) : ('fill' as const) };
  const data = await encodeImage(
    { pixels, width: W, height: H, channels, bitDepth },
    { format, quality: params.q, ...(target ? { resize: target } : {}) },
  );
  if (options.timings) options.timings.encodeMs = performance.now() - encodeStart;
  return { data, format, width: target?.width ?? W, height: target?.height ?? H };
}
