/**
 * Image decode and encode with sharp: raw interleaved pixels in, encoded bytes out. Knows nothing of
 * tensors or the model.
 */
import { readFile } from 'node:fs/promises';
import sharp from 'sharp';
import type { Metadata, Sharp } from 'sharp';
import {
  DEFAULT_MAX_INPUT_PIXELS as SHARED_MAX_INPUT_PIXELS,
  OftsrError,
  SOURCE_FORMATS,
  autoFormat,
} from '@oftsr/shared';
import type { EncodedFormat, OutputFormat, SourceFormat } from '@oftsr/shared';
import { AVIF_SETTINGS, JPEG_SETTINGS, PNG_SETTINGS, WEBP_SETTINGS } from './encode-settings.ts';

/**
 * Default limit on input pixels (width × height): 4 MP, e.g. 2000 × 2000, the service's and the
 * CLI's one default (`DEFAULT_MAX_INPUT_PIXELS` in @oftsr/shared). The output has 16× the pixels,
 * and the pipeline holds it as float32 CHW plus blend weights (`priceUpscale` prices it). Raise it
 * per call with `maxPixels` (CLI: `--max-pixels`).
 */
export const DEFAULT_MAX_INPUT_PIXELS = SHARED_MAX_INPUT_PIXELS;

/** sharp's name of each shared source format (libvips reports AVIF as `heif`). */
const SHARP_NAMES: Readonly<Record<SourceFormat, string>> = {
  png: 'png',
  jpeg: 'jpeg',
  webp: 'webp',
  avif: 'heif',
  gif: 'gif',
};

/**
 * The shared source format of a sharp format name, e.g. `heif` → `avif`; undefined for TIFF (which
 * the decoder reads for the CLI, but the service does not take) and anything else.
 */
export function sourceFormatOf(sharpName: string): SourceFormat | undefined {
  return SOURCE_FORMATS.find((f) => SHARP_NAMES[f] === sharpName);
}

/** sharp's names of the formats the decoder reads: the shared source formats, plus TIFF for the CLI. */
export const INPUT_FORMATS: readonly string[] = [...SOURCE_FORMATS.map((f) => SHARP_NAMES[f]), 'tiff'];

/** File extensions treated as images when scanning a folder (lower case, with the dot). */
export const IMAGE_EXTENSIONS: readonly string[] = [
  '.png',
  '.jpg',
  '.jpeg',
  '.webp',
  '.avif',
  '.tif',
  '.tiff',
  '.gif',
];

/** The extension written for each output format. */
export const FORMAT_EXTENSIONS: Readonly<Record<EncodedFormat, string>> = {
  png: '.png',
  jpeg: '.jpg',
  webp: '.webp',
  avif: '.avif',
};

/** Raw interleaved pixels, row-major, `channels` samples per pixel. */
export interface RawImage {
  pixels: Uint8Array | Uint16Array;
  width: number;
  height: number;
  /** 1 grey, 2 grey + alpha, 3 RGB, 4 RGBA. */
  channels: 1 | 2 | 3 | 4;
  bitDepth: 8 | 16;
}

/** A decoded image and the format it came in. */
export interface DecodedImage extends RawImage {
  /** sharp's format name, e.g. `png`, `jpeg`, `heif`. */
  sourceFormat: string;
}

/** Options for {@link decodeImage} and {@link probeImage}. */
export interface DecodeOptions {
  /** Largest accepted width × height; default {@link DEFAULT_MAX_INPUT_PIXELS}. */
  maxPixels?: number;
}

/** What {@link probeImage} learns from the header alone. */
export interface ImageInfo {
  /** Width and height after EXIF orientation. */
  width: number;
  height: number;
  sourceFormat: string;
}

async function loadBytes(input: string | Uint8Array): Promise<Buffer> {
  if (typeof input !== 'string') return Buffer.from(input.buffer, input.byteOffset, input.byteLength);
  try {
    return await readFile(input);
  } catch (cause) {
    const code = (cause as NodeJS.ErrnoException).code;
    const why =
      code === 'ENOENT'
        ? 'no such file'
        : code === 'EISDIR'
          ? 'is a directory'
          : code === 'EACCES'
            ? 'permission denied'
            : (code ?? String(cause));
    throw new OftsrError('bad_image', `cannot read ${input}: ${why}`, { cause });
  }
}

function describe(input: string | Uint8Array): string {
  return typeof input === 'string' ? input : 'input';
}

/**
 * The frame count of an animated PNG (its `acTL` chunk, which precedes the first `IDAT`), or
 * undefined for a still PNG.
 */
export function apngFrameCount(bytes: Uint8Array): number | undefined {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  for (let at = 8; at + 12 <= bytes.length;) {
    const length = view.getUint32(at);
    const type = String.fromCharCode(...bytes.subarray(at + 4, at + 8));
    if (type === 'IDAT' || type === 'IEND') return undefined;
    if (type === 'acTL') return at + 12 <= bytes.length ? view.getUint32(at + 8) : undefined;
    at += 12 + length;
  }
  return undefined;
}

/** Reads and checks the header: format, animation, pixel count. Never decodes pixel data. */
async function checkedMetadata(bytes: Buffer, name: string, maxPixels: number): Promise<Metadata> {
  if (bytes.length === 0) throw new OftsrError('bad_image', `${name}: empty file (0 bytes)`);
  let meta: Metadata;
  try {
    meta = await sharp(bytes, { limitInputPixels: false }).metadata();
  } catch (cause) {
    const msg = cause instanceof Error ? cause.message : String(cause);
    if (/unsupported image format/i.test(msg)) {
      throw new OftsrError(
        'unsupported_format',
        `${name}: not a supported image (accepted: JPEG, PNG, WebP, AVIF, TIFF, GIF)`,
        { cause },
      );
    }
    throw new OftsrError('bad_image', `${name}: cannot read image header (${msg})`, { cause });
  }
  if (!meta.format || !INPUT_FORMATS.includes(meta.format)) {
    throw new OftsrError(
      'unsupported_format',
      `${name}: ${meta.format ?? 'unknown'} images are not supported (accepted: JPEG, PNG, WebP, AVIF, TIFF, GIF)`,
    );
  }
  const apngFrames = meta.format === 'png' ? apngFrameCount(bytes) : undefined;
  if (apngFrames !== undefined && apngFrames > 1) {
    // libvips reads an APNG as its first frame; the README promises animated images are refused.
    throw new OftsrError(
      'unsupported_format',
      `${name}: animated or multi-page images are not supported (APNG, ${apngFrames} frames)`,
    );
  }
  if ((meta.pages ?? 1) > 1) {
    throw new OftsrError(
      'unsupported_format',
      `${name}: animated or multi-page images are not supported (${meta.pages} frames)`,
    );
  }
  const width = meta.width ?? 0;
  const height = meta.height ?? 0;
  if (width <= 0 || height <= 0) throw new OftsrError('bad_image', `${name}: image has no size`);
  if (width * height > maxPixels) {
    throw new OftsrError(
      'too_large',
      `${name}: ${width}×${height} = ${((width * height) / 1e6).toFixed(1)} MP exceeds the input limit of ` +
        `${(maxPixels / 1e6).toFixed(1)} MP`,
    );
  }
  return meta;
}

/**
 * Reads an image's size (after EXIF orientation) and format from its header, applying every check
 * {@link decodeImage} applies before decoding. Cheap: lets a caller plan work for many files first.
 *
 * @throws OftsrError `bad_image`, `unsupported_format` or `too_large`.
 */
export async function probeImage(
  input: string | Uint8Array,
  options: DecodeOptions = {},
): Promise<ImageInfo> {
  const bytes = await loadBytes(input);
  const meta = await checkedMetadata(bytes, describe(input), options.maxPixels ?? DEFAULT_MAX_INPUT_PIXELS);
  const swap = (meta.orientation ?? 1) >= 5;
  const width = meta.width ?? 0;
  const height = meta.height ?? 0;
  return swap
    ? { width: height, height: width, sourceFormat: meta.format ?? '' }
    : { width, height, sourceFormat: meta.format ?? '' };
}

/**
 * Decodes an image file or buffer to raw pixels: EXIF orientation applied, alpha kept, grey kept
 * grey, 16-bit sources kept at 16 bits. The pixel limit is checked from the header before any pixel
 * data is decoded, so a small file claiming huge dimensions costs nothing.
 *
 * @throws OftsrError `bad_image` (unreadable, empty, truncated or corrupt), `unsupported_format`
 *   (not an image, an unsupported format, animated), `too_large` (over `maxPixels`).
 * @example
 * const img = await decodeImage('cat.jpg'); // { pixels, width, height, channels: 3, bitDepth: 8 }
 */
export async function decodeImage(
  input: string | Uint8Array,
  options: DecodeOptions = {},
): Promise<DecodedImage> {
  const name = describe(input);
  const maxPixels = options.maxPixels ?? DEFAULT_MAX_INPUT_PIXELS;
  const bytes = await loadBytes(input);
  const meta = await checkedMetadata(bytes, name, maxPixels);
  const sixteen = meta.depth !== undefined && meta.depth !== 'uchar' && meta.depth !== 'char';
  // failOn 'error' turns truncated data into an exception instead of grey rows.
  const grey = meta.space === 'b-w' || meta.space === 'grey16';
  // 8-bit grey + alpha (PNG colour type 4): libvips' `b-w` output drops the alpha band, so it is
  // decoded as sRGB + alpha (grey replicated exactly) and folded back to two channels below.
  const greyAlpha8 = grey && !sixteen && meta.hasAlpha === true;
  // sharp's pipeline works in sRGB and would widen grey to three channels and 16 bits to 8:
  // naming the output colourspace keeps both.
  const colourspace = greyAlpha8 ? 'srgb' : grey ? (sixteen ? 'grey16' : 'b-w') : sixteen ? 'rgb16' : 'srgb';
  const pipeline = sharp(bytes, { limitInputPixels: maxPixels, failOn: 'error' })
    .rotate()
    .toColourspace(colourspace);
  try {
    const { data, info } = await pipeline
      .raw(sixteen ? { depth: 'ushort' } : {})
      .toBuffer({ resolveWithObject: true });
    if (greyAlpha8 && info.channels === 4) {
      const n = info.width * info.height;
      const folded = new Uint8Array(2 * n);
      for (let i = 0; i < n; i++) {
        folded[2 * i] = data[4 * i] as number;
        folded[2 * i + 1] = data[4 * i + 3] as number;
      }
      return {
        pixels: folded,
        width: info.width,
        height: info.height,
        channels: 2,
        bitDepth: 8,
        sourceFormat: meta.format ?? '',
      };
    }
    const channels = info.channels;
    if (channels < 1 || channels > 4) {
      throw new OftsrError('unsupported_format', `${name}: ${channels} channels are not supported`);
    }
    const pixels = sixteen
      ? new Uint16Array(data.buffer, data.byteOffset, data.byteLength / 2)
      : new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
    return {
      pixels,
      width: info.width,
      height: info.height,
      channels,
      bitDepth: sixteen ? 16 : 8,
      sourceFormat: meta.format ?? '',
    };
  } catch (cause) {
    if (cause instanceof OftsrError) throw cause;
    const msg = cause instanceof Error ? cause.message.split('\n')[0] : String(cause);
    throw new OftsrError('bad_image', `${name}: cannot decode image (${msg})`, { cause });
  }
}

/**
 * The format to write for a request: an explicit one wins; `auto` is the shared `autoFormat` rule
 * for a caller that takes every written format, i.e. the source's format where we can write it
 * (AVIF stays AVIF, TIFF and GIF become PNG).
 *
 * @param sourceFormat sharp's format name (`heif` for AVIF).
 */
export function resolveFormat(requested: OutputFormat, sourceFormat: string): EncodedFormat {
  return requested === 'auto' ? autoFormat(sourceFormatOf(sourceFormat)) : requested;
}

/** Options for {@link encodeImage}. */
export interface EncodeOptions {
  format: EncodedFormat;
  /** Quality 1–100 for JPEG, WebP and AVIF; PNG is lossless and ignores it. */
  quality: number;
  /**
   * Resize (Lanczos-3) to this size before encoding, e.g. the ×4 result down to ×2; `cover` keeps
   * the aspect ratio and crops the centre (default `fill`: exactly this size).
   */
  resize?: { width: number; height: number; fit?: 'fill' | 'cover' };
}

function withFormat(pipeline: Sharp, image: RawImage, options: EncodeOptions): Sharp {
  const hasAlpha = image.channels === 2 || image.channels === 4;
  const grey = image.channels <= 2;
  switch (options.format) {
    case 'png':
      // 16-bit sources stay 16-bit in PNG, the one output format that can hold them.
      return image.bitDepth === 16
        ? pipeline.toColourspace(grey ? 'grey16' : 'rgb16').png(PNG_SETTINGS)
        : pipeline.png(PNG_SETTINGS);
    case 'jpeg':
      // JPEG has no alpha: composite over white rather than letting transparent pixels turn black.
      return (hasAlpha ? pipeline.flatten({ background: '#ffffff' }) : pipeline).jpeg({
        quality: options.quality,
        ...JPEG_SETTINGS,
      });
    case 'webp':
      return pipeline.webp({ quality: options.quality, ...WEBP_SETTINGS });
    case 'avif':
      return pipeline.avif({ quality: options.quality, ...AVIF_SETTINGS });
  }
}

/**
 * Encodes raw pixels.
 *
 * @example
 * const png = await encodeImage(img, { format: 'png', quality: 85 });
 */
export async function encodeImage(image: RawImage, options: EncodeOptions): Promise<Buffer> {
  // sharp takes the sample depth of raw input from the typed array's type (Uint16Array → ushort).
  let pipeline = sharp(image.pixels, {
    raw: { width: image.width, height: image.height, channels: image.channels },
    limitInputPixels: false,
  });
  if (image.channels <= 2) pipeline = pipeline.toColourspace(image.bitDepth === 16 ? 'grey16' : 'b-w');
  if (options.resize) {
    pipeline = pipeline.resize(options.resize.width, options.resize.height, {
      kernel: 'lanczos3',
      fit: options.resize.fit ?? 'fill',
    });
  }
  return withFormat(pipeline, image, options).toBuffer();
}
