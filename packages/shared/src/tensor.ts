/**
 * Conversions between interleaved image pixels and the model's float tensors: RGB as CHW in
 * [-1, 1], alpha kept apart as H×W in [0, 1] because the model only sees colour (alpha is resized
 * on its own with {@link resizeBicubic}).
 */

/** Interleaved pixel storage: 8-bit or 16-bit samples. */
export type PixelArray = Uint8Array | Uint8ClampedArray | Uint16Array;

/** Interleaved channel count: grey, grey+alpha, RGB, RGBA. */
export type PixelChannels = 1 | 2 | 3 | 4;

/** Sample bit depth. */
export type BitDepth = 8 | 16;

/** Model-side image: CHW RGB in [-1, 1] plus an optional H×W alpha plane in [0, 1]. */
export interface ImageTensor {
  rgb: Float32Array;
  alpha: Float32Array | null;
}

// BT.601 luma: used only to fold RGB back to grey; grey inputs replicate to R = G = B, so they
// round-trip exactly whatever the weights, as long as they sum to 1.
const LUMA = [0.299, 0.587, 0.114] as const;

function maxValue(bitDepth: BitDepth): number {
  return bitDepth === 8 ? 255 : 65535;
}

function hasAlpha(channels: PixelChannels): boolean {
  return channels === 2 || channels === 4;
}

/**
 * Interleaved pixels → RGB tensor (grey replicated to three channels) and alpha plane.
 *
 * @throws {RangeError} when the array length does not match width × height × channels.
 */
export function pixelsToTensor(
  pixels: PixelArray,
  width: number,
  height: number,
  channels: PixelChannels,
  bitDepth: BitDepth,
): ImageTensor {
  const n = width * height;
  if (pixels.length !== n * channels) {
    throw new RangeError(`expected ${width}×${height}×${channels} samples, got ${pixels.length}`);
  }
  const max = maxValue(bitDepth);
  const colour = channels >= 3 ? 3 : 1;
  const rgb = new Float32Array(3 * n);
  const alpha = hasAlpha(channels) ? new Float32Array(n) : null;
  // Every sample value maps through one table (the same float64 arithmetic, done once per value).
  const toRgb = new Float32Array(max + 1);
  for (let v = 0; v <= max; v++) toRgb[v] = (v / max) * 2 - 1;
  for (let c = 0; c < 3; c++) {
    const off = c * n;
    for (let i = 0, p = colour === 3 ? c : 0; i < n; i++, p += channels) {
      rgb[off + i] = toRgb[pixels[p] as number] as number;
    }
  }
  if (alpha) {
    for (let i = 0, p = channels - 1; i < n; i++, p += channels) alpha[i] = (pixels[p] as number) / max;
  }
  return { rgb, alpha };
}

/** Output layout of {@link tensorToPixels}. */
export interface PixelFormat {
  channels: PixelChannels;
  bitDepth: BitDepth;
}

function quantize(v: number, max: number): number {
  const r = Math.round(v * max);
  return r < 0 ? 0 : r > max ? max : r;
}

/**
 * RGB tensor (+ alpha) → interleaved pixels, clamping to range and rounding to nearest. Grey
 * outputs use BT.601 luma; a missing alpha plane is written opaque.
 */
export function tensorToPixels(
  rgb: Float32Array,
  alpha: Float32Array | null,
  width: number,
  height: number,
  format: PixelFormat,
): Uint8Array | Uint16Array {
  const n = width * height;
  if (rgb.length !== 3 * n) throw new RangeError(`expected 3×${height}×${width} values, got ${rgb.length}`);
  if (alpha && alpha.length !== n)
    throw new RangeError(`expected ${height}×${width} alpha values, got ${alpha.length}`);
  const { channels, bitDepth } = format;
  const max = maxValue(bitDepth);
  const out = bitDepth === 8 ? new Uint8Array(n * channels) : new Uint16Array(n * channels);
  if (channels >= 3) {
    // One flat loop per channel: the same arithmetic as quantize(), without per-pixel calls.
    for (let c = 0; c < 3; c++) {
      const off = c * n;
      for (let i = 0, o = c; i < n; i++, o += channels) {
        const r = Math.round((((rgb[off + i] as number) + 1) / 2) * max);
        out[o] = r < 0 ? 0 : r > max ? max : r;
      }
    }
  } else {
    for (let i = 0; i < n; i++) {
      const r = ((rgb[i] as number) + 1) / 2;
      const g = ((rgb[n + i] as number) + 1) / 2;
      const b = ((rgb[2 * n + i] as number) + 1) / 2;
      out[i * channels] = quantize(LUMA[0] * r + LUMA[1] * g + LUMA[2] * b, max);
    }
  }
  if (hasAlpha(channels)) {
    const last = channels - 1;
    if (alpha) {
      for (let i = 0, o = last; i < n; i++, o += channels) out[o] = quantize(alpha[i] as number, max);
    } else {
      for (let o = last; o < out.length; o += channels) out[o] = max;
    }
  }
  return out;
}

function cubic(x: number): number {
  // Keys' kernel with a = -0.5 (Catmull-Rom), the usual "bicubic" of image libraries.
  const a = -0.5;
  const t = Math.abs(x);
  if (t <= 1) return (a + 2) * t ** 3 - (a + 3) * t ** 2 + 1;
  if (t < 2) return a * t ** 3 - 5 * a * t ** 2 + 8 * a * t - 4 * a;
  return 0;
}

interface AxisLayout {
  /** Number of lines (rows when resizing x, columns when resizing y). */
  lines: number;
  /** Element step between neighbours along the resized axis, input and output. */
  step: number;
  outStep: number;
  /** Element step between lines, input and output. */
  lineStep: number;
  outLineStep: number;
}

function resizeAxis(
  src: Float32Array,
  inLen: number,
  outLen: number,
  layout: AxisLayout,
  dst: Float32Array,
): void {
  const ratio = inLen / outLen;
  for (let o = 0; o < outLen; o++) {
    const center = (o + 0.5) * ratio - 0.5;
    const i0 = Math.floor(center) - 1;
    const idx: number[] = [];
    const wts: number[] = [];
    let sum = 0;
    for (let k = 0; k < 4; k++) {
      const w = cubic(center - (i0 + k));
      idx.push(Math.min(inLen - 1, Math.max(0, i0 + k)) * layout.step);
      wts.push(w);
      sum += w;
    }
    for (let line = 0; line < layout.lines; line++) {
      const base = line * layout.lineStep;
      let v = 0;
      for (let k = 0; k < 4; k++) v += (wts[k] as number) * (src[base + (idx[k] as number)] as number);
      dst[line * layout.outLineStep + o * layout.outStep] = v / sum;
    }
  }
}

/**
 * Resizes one H×W plane with separable bicubic interpolation (Keys, a = −0.5), half-pixel centres
 * and edge clamping; meant for upscaling alpha alongside the model's RGB (no antialiasing, so it is
 * not a good downscaler).
 */
export function resizeBicubic(
  plane: Float32Array,
  width: number,
  height: number,
  outWidth: number,
  outHeight: number,
): Float32Array {
  if (plane.length !== width * height)
    throw new RangeError(`expected ${height}×${width} values, got ${plane.length}`);
  if (outWidth < 1 || outHeight < 1 || width < 1 || height < 1)
    throw new RangeError('sizes must be positive');
  const mid = new Float32Array(outWidth * height);
  resizeAxis(
    plane,
    width,
    outWidth,
    { lines: height, step: 1, outStep: 1, lineStep: width, outLineStep: outWidth },
    mid,
  );
  const out = new Float32Array(outWidth * outHeight);
  resizeAxis(
    mid,
    height,
    outHeight,
    { lines: outWidth, step: outWidth, outStep: outWidth, lineStep: 1, outLineStep: 1 },
    out,
  );
  return out;
}
