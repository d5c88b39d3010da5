/**
 * The ×2 output: the ×4 model's result reduced 2:1 with a Lanczos-3 filter (antialiased: the kernel
 * is stretched by the reduction factor), as the runner does with sharp's `lanczos3`. Planar float.
 */

function lanczos3(x: number): number {
  if (x === 0) return 1;
  if (Math.abs(x) >= 3) return 0;
  const px = Math.PI * x;
  return (3 * Math.sin(px) * Math.sin(px / 3)) / (px * px);
}

function reduceAxis(
  src: Float32Array,
  inLen: number,
  outLen: number,
  lines: number,
  along: 'x' | 'y',
  dst: Float32Array,
): void {
  const factor = inLen / outLen;
  const support = 3 * factor;
  for (let o = 0; o < outLen; o++) {
    const centre = (o + 0.5) * factor - 0.5;
    const first = Math.ceil(centre - support);
    const last = Math.floor(centre + support);
    const idx: number[] = [];
    const wts: number[] = [];
    let sum = 0;
    for (let i = first; i <= last; i++) {
      const w = lanczos3((i - centre) / factor);
      if (w === 0) continue;
      idx.push(Math.min(inLen - 1, Math.max(0, i)));
      wts.push(w);
      sum += w;
    }
    for (let line = 0; line < lines; line++) {
      let v = 0;
      for (let k = 0; k < idx.length; k++) {
        const i = idx[k] as number;
        v += (wts[k] as number) * (src[along === 'x' ? line * inLen + i : i * lines + line] as number);
      }
      dst[along === 'x' ? line * outLen + o : o * lines + line] = v / sum;
    }
  }
}

/**
 * Resizes `planes` stacked H×W planes (CHW) to `outWidth × outHeight` with a Lanczos-3 filter.
 *
 * @example downscaleLanczos3(sr4, 3, 4 * w, 4 * h, 2 * w, 2 * h)
 */
export function downscaleLanczos3(
  chw: Float32Array,
  planes: number,
  width: number,
  height: number,
  outWidth: number,
  outHeight: number,
): Float32Array {
  if (chw.length !== planes * width * height)
    throw new RangeError(`expected ${planes}×${height}×${width} values`);
  const out = new Float32Array(planes * outWidth * outHeight);
  const mid = new Float32Array(outWidth * height);
  const res = new Float32Array(outWidth * outHeight);
  for (let p = 0; p < planes; p++) {
    const plane = chw.subarray(p * width * height, (p + 1) * width * height);
    reduceAxis(plane, width, outWidth, height, 'x', mid);
    reduceAxis(mid, height, outHeight, outWidth, 'y', res);
    out.set(res, p * outWidth * outHeight);
  }
  return out;
}
