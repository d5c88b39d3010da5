/**
 * Tiling for a fully convolutional x`scale` model with a bounded receptive field: plan fixed-shape
 * input tiles, then blend their outputs so the result equals the whole-image output.
 *
 * Units: LR pixels for plans; an output pixel u lies in LR pixel floor(u / scale) and depends only
 * on LR pixels within `margin` of it. A tile's output is exact wherever that window lies inside the
 * tile (or runs off the image at the same border the whole image has).
 */

/** An axis-aligned rectangle in pixels. */
export interface Rect {
  x: number;
  y: number;
  width: number;
  height: number;
}

/** One input tile: its LR rectangle, and the core whose output it owns. */
export interface Tile extends Rect {
  index: number;
  /** Cores of all tiles partition the image; each lies ≥ overlap from its tile's interior edges. */
  core: Rect;
}

/** Options of {@link planTiles}. All values are LR pixels. */
export interface PlanOptions {
  /** Padded width, a multiple of `alignment`. */
  width: number;
  /** Padded height, a multiple of `alignment`. */
  height: number;
  /** Fixed input tile size (square), a multiple of `alignment`. */
  tile: number;
  /** Context per side, a multiple of `alignment`; ≥ the model's margin for exact output. */
  overlap: number;
  /** The model's alignment: tile origins and sizes are multiples of it. */
  alignment: number;
}

/** The result of {@link planTiles}: tiles in row-major order. */
export interface TilePlan {
  width: number;
  height: number;
  /** Actual tile shape: `tile`, or the whole dimension where the image is smaller. */
  tileWidth: number;
  tileHeight: number;
  overlap: number;
  alignment: number;
  columns: number;
  rows: number;
  tiles: Tile[];
}

interface Span {
  start: number;
  length: number;
  coreStart: number;
  coreEnd: number;
}

function requireMultiple(name: string, value: number, alignment: number, min: number): void {
  if (!Number.isInteger(value) || value < min || value % alignment !== 0) {
    throw new RangeError(
      `${name} must be an integer ≥ ${min} and a multiple of alignment ${alignment}, got ${value}`,
    );
  }
}

/**
 * Rounds an image size up to multiples of the model's alignment.
 *
 * @example padSize(33, 20, 8) // { width: 40, height: 24 }
 */
export function padSize(width: number, height: number, alignment: number): { width: number; height: number } {
  if (!Number.isInteger(alignment) || alignment < 1)
    throw new RangeError(`alignment must be ≥ 1, got ${alignment}`);
  if (!Number.isInteger(width) || !Number.isInteger(height) || width < 1 || height < 1) {
    throw new RangeError(`image size must be positive integers, got ${width}×${height}`);
  }
  return {
    width: Math.ceil(width / alignment) * alignment,
    height: Math.ceil(height / alignment) * alignment,
  };
}

/**
 * Pads a CHW image on the right and bottom by replicating its last column and row; replicate (not
 * zero) padding keeps the border's statistics, so the model does not invent an edge there.
 */
export function padReplicate(
  chw: Float32Array,
  channels: number,
  width: number,
  height: number,
  newWidth: number,
  newHeight: number,
): Float32Array {
  if (chw.length !== channels * width * height) {
    throw new RangeError(`expected ${channels}×${height}×${width} values, got ${chw.length}`);
  }
  if (newWidth < width || newHeight < height) throw new RangeError('padReplicate cannot shrink');
  const out = new Float32Array(channels * newWidth * newHeight);
  for (let c = 0; c < channels; c++) {
    for (let y = 0; y < newHeight; y++) {
      const src = (c * height + Math.min(y, height - 1)) * width;
      const dst = (c * newHeight + y) * newWidth;
      out.set(chw.subarray(src, src + width), dst);
      out.fill(chw[src + width - 1] ?? 0, dst + width, dst + newWidth);
    }
  }
  return out;
}

/** Crops the top-left `cropWidth`×`cropHeight` of a CHW image, e.g. to drop padding after blending. */
export function cropChw(
  chw: Float32Array,
  channels: number,
  width: number,
  height: number,
  cropWidth: number,
  cropHeight: number,
): Float32Array {
  if (chw.length !== channels * width * height) {
    throw new RangeError(`expected ${channels}×${height}×${width} values, got ${chw.length}`);
  }
  if (cropWidth > width || cropHeight > height || cropWidth < 0 || cropHeight < 0) {
    throw new RangeError(`cannot crop ${width}×${height} to ${cropWidth}×${cropHeight}`);
  }
  const out = new Float32Array(channels * cropWidth * cropHeight);
  for (let c = 0; c < channels; c++) {
    for (let y = 0; y < cropHeight; y++) {
      const src = (c * height + y) * width;
      out.set(chw.subarray(src, src + cropWidth), (c * cropHeight + y) * cropWidth);
    }
  }
  return out;
}

function planAxis(size: number, tile: number, overlap: number, alignment: number): Span[] {
  if (size <= tile) return [{ start: 0, length: size, coreStart: 0, coreEnd: size }];
  const step = tile - 2 * overlap;
  const starts: number[] = [];
  for (let s = 0; s + tile < size; s += step) starts.push(s);
  starts.push(size - tile);
  const spans = starts.map((start) => ({ start, length: tile, coreStart: 0, coreEnd: size }));
  for (let i = 0; i + 1 < spans.length; i++) {
    const left = spans[i] as Span;
    const right = spans[i + 1] as Span;
    // Any boundary in [lo, hi] keeps both cores `overlap` away from interior edges; lo ≤ hi
    // because consecutive starts differ by at most `step`. The aligned midpoint balances context.
    const lo = right.start + overlap;
    const hi = left.start + tile - overlap;
    const boundary = Math.floor((lo + hi) / 2 / alignment) * alignment;
    left.coreEnd = boundary;
    right.coreStart = boundary;
  }
  return spans;
}

/**
 * Plans fixed-shape tiles over a padded image: origins are multiples of `alignment`, the step is
 * `tile − 2·overlap`, and the last tile sits flush with the right/bottom edge.
 *
 * @throws {RangeError} on sizes that are not aligned, or when `tile − 2·overlap ≤ 0`.
 */
export function planTiles(options: PlanOptions): TilePlan {
  const { width, height, tile, overlap, alignment } = options;
  if (!Number.isInteger(alignment) || alignment < 1)
    throw new RangeError(`alignment must be ≥ 1, got ${alignment}`);
  requireMultiple('width', width, alignment, 1);
  requireMultiple('height', height, alignment, 1);
  requireMultiple('tile', tile, alignment, 1);
  requireMultiple('overlap', overlap, alignment, 0);
  if (tile - 2 * overlap <= 0) {
    throw new RangeError(`tile (${tile}) must exceed 2·overlap (${2 * overlap}) so tiles advance`);
  }
  const xs = planAxis(width, tile, overlap, alignment);
  const ys = planAxis(height, tile, overlap, alignment);
  const tiles: Tile[] = [];
  for (const sy of ys) {
    for (const sx of xs) {
      tiles.push({
        index: tiles.length,
        x: sx.start,
        y: sy.start,
        width: sx.length,
        height: sy.length,
        core: {
          x: sx.coreStart,
          y: sy.coreStart,
          width: sx.coreEnd - sx.coreStart,
          height: sy.coreEnd - sy.coreStart,
        },
      });
    }
  }
  return {
    width,
    height,
    tileWidth: Math.min(tile, width),
    tileHeight: Math.min(tile, height),
    overlap,
    alignment,
    columns: xs.length,
    rows: ys.length,
    tiles,
  };
}

/** Options of {@link TileBlender}. */
export interface BlendOptions {
  channels: number;
  /** Output pixels per LR pixel. */
  scale: number;
  /** LR pixels of context an output pixel depends on (the model's receptive-field radius). */
  margin: number;
}

/**
 * 1-D weights, in output pixels relative to each span's start. At each seam the two neighbours are
 * both exact on [A, Z] (farther than `margin` from their interior edges); a linear ramp centred on
 * the core boundary B, kept inside [A, Z] and inside half of each neighbouring core (so two seams of
 * one tile never meet), fades one into the other. Weights sum to 1 everywhere, so blending exact
 * outputs reproduces the exact output; with no room the seam is hard, at B.
 */
function axisWeights(spans: Span[], scale: number, margin: number): Float32Array[] {
  const weights = spans.map((s) => new Float32Array(s.length * scale));
  spans.forEach((s, i) => {
    const w = weights[i] as Float32Array;
    for (let u = (s.coreStart - s.start) * scale; u < (s.coreEnd - s.start) * scale; u++) w[u] = 1;
  });
  for (let i = 0; i + 1 < spans.length; i++) {
    const left = spans[i] as Span;
    const right = spans[i + 1] as Span;
    const b = left.coreEnd * scale;
    const a = (right.start + margin) * scale;
    const z = (left.start + left.length - margin) * scale;
    const half = Math.max(
      0,
      Math.min(
        b - a,
        z - b,
        Math.floor(((left.coreEnd - left.coreStart) * scale) / 2),
        Math.floor(((right.coreEnd - right.coreStart) * scale) / 2),
      ),
    );
    const wl = weights[i] as Float32Array;
    const wr = weights[i + 1] as Float32Array;
    for (let u = b - half; u < b + half; u++) {
      const t = (u - (b - half) + 0.5) / (2 * half);
      wl[u - left.start * scale] = 1 - t;
      wr[u - right.start * scale] = t;
    }
  }
  return weights;
}

function spansOf(plan: TilePlan, axis: 'x' | 'y'): Span[] {
  const count = axis === 'x' ? plan.columns : plan.rows;
  const spans: Span[] = [];
  for (let k = 0; k < count; k++) {
    const t = plan.tiles[axis === 'x' ? k : k * plan.columns] as Tile;
    spans.push(
      axis === 'x'
        ? { start: t.x, length: t.width, coreStart: t.core.x, coreEnd: t.core.x + t.core.width }
        : { start: t.y, length: t.height, coreStart: t.core.y, coreEnd: t.core.y + t.core.height },
    );
  }
  return spans;
}

/**
 * Accumulates tile outputs into the whole (padded) output image with feathered seams.
 *
 * @example
 * const blender = new TileBlender(plan, { channels: 3, scale: 4, margin: 8 });
 * for (const tile of plan.tiles) blender.add(tile.index, await runModel(tile));
 * const sr = cropChw(blender.result(), 3, plan.width * 4, plan.height * 4, width * 4, height * 4);
 */
export class TileBlender {
  readonly plan: TilePlan;
  readonly channels: number;
  readonly scale: number;
  readonly margin: number;
  private readonly wx: Float32Array[];
  private readonly wy: Float32Array[];
  private readonly acc: Float32Array;
  private readonly added: boolean[];

  constructor(plan: TilePlan, options: BlendOptions) {
    if (!Number.isInteger(options.scale) || options.scale < 1) throw new RangeError('scale must be ≥ 1');
    if (!Number.isInteger(options.margin) || options.margin < 0) throw new RangeError('margin must be ≥ 0');
    this.plan = plan;
    this.channels = options.channels;
    this.scale = options.scale;
    this.margin = options.margin;
    this.wx = axisWeights(spansOf(plan, 'x'), options.scale, options.margin);
    this.wy = axisWeights(spansOf(plan, 'y'), options.scale, options.margin);
    this.acc = new Float32Array(options.channels * plan.width * options.scale * plan.height * options.scale);
    this.added = plan.tiles.map(() => false);
  }

  /** Adds one tile's output: CHW, `channels × tile.height·scale × tile.width·scale`. */
  add(tileIndex: number, out: Float32Array): void {
    const tile = this.plan.tiles[tileIndex];
    if (tile === undefined)
      throw new RangeError(`no tile ${tileIndex} in a plan of ${this.plan.tiles.length}`);
    if (this.added[tileIndex]) throw new Error(`tile ${tileIndex} was already added`);
    const s = this.scale;
    const tw = tile.width * s;
    const th = tile.height * s;
    if (out.length !== this.channels * tw * th) {
      throw new RangeError(
        `tile ${tileIndex} output must have ${this.channels}×${th}×${tw} values, got ${out.length}`,
      );
    }
    const wx = this.wx[tileIndex % this.plan.columns] as Float32Array;
    const wy = this.wy[Math.floor(tileIndex / this.plan.columns)] as Float32Array;
    const W = this.plan.width * s;
    const H = this.plan.height * s;
    for (let c = 0; c < this.channels; c++) {
      for (let v = 0; v < th; v++) {
        const wv = wy[v] as number;
        if (wv === 0) continue;
        const src = (c * th + v) * tw;
        const dst = (c * H + tile.y * s + v) * W + tile.x * s;
        for (let u = 0; u < tw; u++) {
          const w = wv * (wx[u] as number);
          if (w !== 0) this.acc[dst + u] = (this.acc[dst + u] as number) + w * (out[src + u] as number);
        }
      }
    }
    this.added[tileIndex] = true;
  }

  /** The blended CHW output of the padded image × scale. @throws {Error} if a tile is missing. */
  result(): Float32Array {
    const missing = this.added.indexOf(false);
    if (missing !== -1) throw new Error(`tile ${missing} has not been added`);
    return this.acc;
  }
}
