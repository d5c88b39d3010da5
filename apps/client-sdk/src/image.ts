/**
 * Main-thread image plumbing: every accepted input decoded to RGBA bytes (no colour conversion, no
 * premultiplication, so PNG pixels arrive exactly as encoded), and RGBA bytes turned into the
 * requested output (Blob, data URL, ImageData, ImageBitmap).
 */
import { IMAGE_MIME, OftsrError } from '@oftsr/shared';
import type { EncodedFormat } from '@oftsr/shared';

/** What `upscale` accepts. */
export type ImageInput =
  ImageBitmap | HTMLImageElement | HTMLCanvasElement | OffscreenCanvas | ImageData | Blob | string | URL;

/** Output kinds. */
export type OutputKind = 'blob' | 'dataUrl' | 'imageData' | 'imageBitmap';

/** The output type for each kind. */
export interface OutputTypes {
  blob: Blob;
  /** `data:image/png;base64,…` (the format and quality of `format`/`quality`), e.g. for an `<img src>`. */
  dataUrl: string;
  imageData: ImageData;
  imageBitmap: ImageBitmap;
}

/** Encoded formats a Blob output can take. */
export type BlobFormat = Exclude<EncodedFormat, 'avif'>;

/** A decoded input. */
export interface DecodedInput {
  pixels: Uint8ClampedArray;
  width: number;
  height: number;
  /** Any pixel not fully opaque. */
  alpha: boolean;
  /** The encoded bytes, when the input was encoded (Blob, File, URL): what the cloud is sent. */
  blob?: Blob;
  /** The input's URL, when it was one (for the edge). */
  url?: string;
}

const BITMAP_OPTIONS: ImageBitmapOptions = { premultiplyAlpha: 'none', colorSpaceConversion: 'none' };

function canvas2d(width: number, height: number): OffscreenCanvasRenderingContext2D {
  const ctx = new OffscreenCanvas(width, height).getContext('2d', { willReadFrequently: true });
  if (!ctx) throw new OftsrError('internal', 'no 2D canvas context');
  return ctx;
}

function hasAlpha(pixels: Uint8ClampedArray): boolean {
  for (let i = 3; i < pixels.length; i += 4) if (pixels[i] !== 255) return true;
  return false;
}

/** RGBA bytes of a bitmap-like source. */
function readPixels(source: CanvasImageSource, width: number, height: number): Uint8ClampedArray {
  const ctx = canvas2d(width, height);
  ctx.drawImage(source, 0, 0);
  return ctx.getImageData(0, 0, width, height, { colorSpace: 'srgb' }).data;
}

/**
 * Decodes any {@link ImageInput} to RGBA bytes.
 *
 * @throws OftsrError `bad_image` when it cannot be decoded; `upstream` when a URL cannot be fetched.
 */
export async function decodeInput(input: ImageInput, signal?: AbortSignal): Promise<DecodedInput> {
  let blob: Blob | undefined;
  let url: string | undefined;
  if (typeof input === 'string' || input instanceof URL) {
    url = new URL(String(input), globalThis.location?.href).href;
    const res = await fetch(url, signal ? { signal } : {}).catch((err: unknown) => {
      throw new OftsrError('upstream', `could not fetch ${url}: ${String(err)}`, { cause: err });
    });
    if (!res.ok) throw new OftsrError('upstream', `fetching ${url} answered ${res.status}`);
    blob = await res.blob();
  } else if (input instanceof Blob) {
    blob = input;
  }
  if (typeof ImageData !== 'undefined' && input instanceof ImageData) {
    const pixels = new Uint8ClampedArray(input.data);
    return { pixels, width: input.width, height: input.height, alpha: hasAlpha(pixels) };
  }
  let bitmap: ImageBitmap;
  try {
    bitmap = await createImageBitmap((blob ?? input) as ImageBitmapSource, BITMAP_OPTIONS);
  } catch (err) {
    throw new OftsrError('bad_image', `the input could not be decoded as an image: ${String(err)}`, {
      cause: err,
    });
  }
  const { width, height } = bitmap;
  const pixels = readPixels(bitmap, width, height);
  if (bitmap !== input) bitmap.close();
  return {
    pixels,
    width,
    height,
    alpha: hasAlpha(pixels),
    ...(blob ? { blob } : {}),
    ...(url ? { url } : {}),
  };
}

/** PNG bytes of decoded pixels (what the cloud gets when the input was not encoded). */
export async function encodePng(image: DecodedInput): Promise<Blob> {
  const ctx = canvas2d(image.width, image.height);
  ctx.putImageData(
    new ImageData(image.pixels as Uint8ClampedArray<ArrayBuffer>, image.width, image.height),
    0,
    0,
  );
  return ctx.canvas.convertToBlob({ type: IMAGE_MIME.png });
}

/** Decodes an encoded result (the cloud's PNG) to RGBA. */
export async function decodeBlob(blob: Blob): Promise<ImageData> {
  const bitmap = await createImageBitmap(blob, BITMAP_OPTIONS);
  const data = readPixels(bitmap, bitmap.width, bitmap.height);
  const out = new ImageData(data as Uint8ClampedArray<ArrayBuffer>, bitmap.width, bitmap.height);
  bitmap.close();
  return out;
}

/** Turns RGBA bytes, or an already encoded Blob, into the requested output. */
export async function toOutput<K extends OutputKind>(
  kind: K,
  image: { pixels: Uint8ClampedArray; width: number; height: number } | { blob: Blob },
  format: BlobFormat,
  quality: number,
): Promise<OutputTypes[K]> {
  const type = IMAGE_MIME[format];
  if (kind === 'dataUrl') {
    const blob = await toOutput('blob', image, format, quality);
    return (await blobToDataUrl(blob)) as OutputTypes[K];
  }
  if ('blob' in image) {
    if (kind === 'blob' && image.blob.type === type) return image.blob as OutputTypes[K];
    const data = await decodeBlob(image.blob);
    return toOutput(kind, { pixels: data.data, width: data.width, height: data.height }, format, quality);
  }
  const data = new ImageData(image.pixels as Uint8ClampedArray<ArrayBuffer>, image.width, image.height);
  if (kind === 'imageData') return data as OutputTypes[K];
  if (kind === 'imageBitmap') return (await createImageBitmap(data, BITMAP_OPTIONS)) as OutputTypes[K];
  const ctx = canvas2d(image.width, image.height);
  ctx.putImageData(data, 0, 0);
  return (await ctx.canvas.convertToBlob({ type, quality: quality / 100 })) as OutputTypes[K];
}

/** A Blob as a `data:` URL (FileReader does the base64 without building a string per byte). */
function blobToDataUrl(blob: Blob): Promise<string> {
  return new Promise((resolve, reject) => {
    const reader = new FileReader();
    reader.onload = () => resolve(reader.result as string);
    reader.onerror = () => reject(reader.error ?? new Error('reading the result failed'));
    reader.readAsDataURL(blob);
  });
}
