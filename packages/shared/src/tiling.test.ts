import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { TileBlender, cropChw, padReplicate, padSize, planTiles, type TilePlan } from './tiling.ts';

function coverage(plan: TilePlan, rect: 'core' | 'tile'): Uint8Array {
  const count = new Uint8Array(plan.width * plan.height);
  for (const t of plan.tiles) {
    const r = rect === 'core' ? t.core : t;
    for (let y = r.y; y < r.y + r.height; y++)
      for (let x = r.x; x < r.x + r.width; x++) count[y * plan.width + x]! += 1;
  }
  return count;
}

function checkPlan(plan: TilePlan): void {
  const { width, height, overlap, alignment: a } = plan;
  expect(coverage(plan, 'core').every((n) => n === 1)).toBe(true);
  expect(coverage(plan, 'tile').every((n) => n >= 1)).toBe(true);
  expect(plan.tiles.length).toBe(plan.rows * plan.columns);
  for (const t of plan.tiles) {
    expect([t.x % a, t.y % a, t.width % a, t.height % a]).toEqual([0, 0, 0, 0]);
    expect([t.width, t.height]).toEqual([plan.tileWidth, plan.tileHeight]);
    expect(t.x + t.width).toBeLessThanOrEqual(width);
    expect(t.y + t.height).toBeLessThanOrEqual(height);
    const c = t.core;
    // Interior edges keep `overlap` of context; image borders are exempt.
    if (t.x > 0) expect(c.x - t.x).toBeGreaterThanOrEqual(overlap);
    if (t.y > 0) expect(c.y - t.y).toBeGreaterThanOrEqual(overlap);
    if (t.x + t.width < width) expect(t.x + t.width - (c.x + c.width)).toBeGreaterThanOrEqual(overlap);
    if (t.y + t.height < height) expect(t.y + t.height - (c.y + c.height)).toBeGreaterThanOrEqual(overlap);
  }
}

describe('padSize / padReplicate / cropChw', () => {
  it('rounds up to the alignment', () => {
    expect(padSize(1, 1, 8)).toEqual({ width: 8, height: 8 });
    expect(padSize(33, 16, 8)).toEqual({ width: 40, height: 16 });
    expect(() => padSize(0, 1, 8)).toThrow(RangeError);
  });

  it('replicates the last column and row, then crops back', () => {
    const img = Float32Array.from([1, 2, 3, 4, 5, 6, 10, 20, 30, 40, 50, 60]); // 2 channels, 2×3
    const padded = padReplicate(img, 2, 3, 2, 4, 3);
    expect(Array.from(padded.subarray(0, 12))).toEqual([1, 2, 3, 3, 4, 5, 6, 6, 4, 5, 6, 6]);
    expect(Array.from(padded.subarray(12))).toEqual([10, 20, 30, 30, 40, 50, 60, 60, 40, 50, 60, 60]);
    expect(cropChw(padded, 2, 4, 3, 3, 2)).toEqual(img);
  });
});

describe('planTiles', () => {
  it.each([
    [8, 8, 32, 8],
    [24, 16, 32, 8],
    [32, 32, 32, 8],
    [40, 40, 32, 8],
    [64, 8, 32, 8],
    [256, 200, 64, 16],
    [1000, 8, 64, 0],
  ])('plans %i×%i with tile %i, overlap %i', (width, height, tile, overlap) => {
    const plan = planTiles({ width, height, tile, overlap, alignment: 8 });
    checkPlan(plan);
  });

  it('uses one tile of the whole image when it is smaller than a tile', () => {
    const plan = planTiles({ width: 8, height: 24, tile: 32, overlap: 8, alignment: 8 });
    expect(plan.tiles).toEqual([
      { index: 0, x: 0, y: 0, width: 8, height: 24, core: { x: 0, y: 0, width: 8, height: 24 } },
    ]);
  });

  it('puts the last tile flush with the edge', () => {
    const plan = planTiles({ width: 40, height: 8, tile: 32, overlap: 8, alignment: 8 });
    expect(plan.tiles.map((t) => t.x)).toEqual([0, 8]);
  });

  it('holds for any aligned size', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 40 }),
        fc.integer({ min: 1, max: 40 }),
        fc.integer({ min: 1, max: 8 }),
        fc.integer({ min: 0, max: 3 }),
        fc.constantFrom(1, 4, 8),
        (w, h, tileUnits, overlapUnits, a) => {
          fc.pre(tileUnits > 2 * overlapUnits);
          checkPlan(
            planTiles({
              width: w * a,
              height: h * a,
              tile: tileUnits * a,
              overlap: overlapUnits * a,
              alignment: a,
            }),
          );
        },
      ),
    );
  });

  it('explains invalid options', () => {
    expect(() => planTiles({ width: 64, height: 64, tile: 32, overlap: 16, alignment: 8 })).toThrow(
      /must exceed 2·overlap/,
    );
    expect(() => planTiles({ width: 60, height: 64, tile: 32, overlap: 8, alignment: 8 })).toThrow(/width/);
    expect(() => planTiles({ width: 64, height: 64, tile: 30, overlap: 8, alignment: 8 })).toThrow(/tile/);
    expect(() => planTiles({ width: 64, height: 64, tile: 32, overlap: 4, alignment: 8 })).toThrow(/overlap/);
  });
});

/** A deterministic PRNG for test data (mulberry32). */
function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 2 ** 32 - 0.5;
  };
}

/**
 * A model stand-in with a known receptive field: `passes` zero-padded random convolutions of radius
 * `radius` (RF = passes·radius LR px, mixing channels), then nearest ×scale upsampling.
 */
function makeOperator(channels: number, radius: number, passes: number, scale: number, seed: number) {
  const rand = rng(seed);
  const k = 2 * radius + 1;
  const kernels = Array.from({ length: passes }, () =>
    Float64Array.from({ length: channels * channels * k * k }, rand),
  );
  return (img: Float32Array, width: number, height: number): Float32Array => {
    let cur = Float64Array.from(img);
    for (const kernel of kernels) {
      const next = new Float64Array(cur.length);
      for (let co = 0; co < channels; co++)
        for (let y = 0; y < height; y++)
          for (let x = 0; x < width; x++) {
            let sum = 0;
            for (let ci = 0; ci < channels; ci++)
              for (let dy = -radius; dy <= radius; dy++) {
                const yy = y + dy;
                if (yy < 0 || yy >= height) continue;
                for (let dx = -radius; dx <= radius; dx++) {
                  const xx = x + dx;
                  if (xx < 0 || xx >= width) continue;
                  const w = kernel[((co * channels + ci) * k + dy + radius) * k + dx + radius]!;
                  sum += w * cur[(ci * height + yy) * width + xx]!;
                }
              }
            next[(co * height + y) * width + x] = Math.tanh(sum);
          }
      cur = next;
    }
    const out = new Float32Array(channels * width * scale * height * scale);
    for (let c = 0; c < channels; c++)
      for (let v = 0; v < height * scale; v++)
        for (let u = 0; u < width * scale; u++)
          out[(c * height * scale + v) * width * scale + u] =
            cur[(c * height + Math.floor(v / scale)) * width + Math.floor(u / scale)]!;
    return out;
  };
}

function runTiled(
  img: Float32Array,
  plan: TilePlan,
  op: (img: Float32Array, w: number, h: number) => Float32Array,
  channels: number,
  scale: number,
  margin: number,
): Float32Array {
  const blender = new TileBlender(plan, { channels, scale, margin });
  for (const t of plan.tiles) {
    const input = new Float32Array(channels * t.width * t.height);
    for (let c = 0; c < channels; c++)
      for (let y = 0; y < t.height; y++) {
        const src = (c * plan.height + t.y + y) * plan.width + t.x;
        input.set(img.subarray(src, src + t.width), (c * t.height + y) * t.width);
      }
    blender.add(t.index, op(input, t.width, t.height));
  }
  return blender.result();
}

function maxAbsDiff(a: Float32Array, b: Float32Array): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return m;
}

describe('TileBlender', () => {
  const channels = 2;
  const scale = 2;

  it('reproduces the whole-image output when overlap ≥ receptive field', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 12 }),
        fc.integer({ min: 1, max: 12 }),
        fc.integer({ min: 0, max: 1000 }),
        fc.constantFrom(
          { radius: 1, passes: 2, overlap: 2, tile: 8 },
          { radius: 1, passes: 3, overlap: 4, tile: 12 },
          { radius: 2, passes: 2, overlap: 4, tile: 16 },
        ),
        (wu, hu, seed, cfg) => {
          const a = 2;
          const width = wu * a;
          const height = hu * a;
          const rf = cfg.radius * cfg.passes;
          const op = makeOperator(channels, cfg.radius, cfg.passes, scale, seed);
          const img = Float32Array.from({ length: channels * width * height }, rng(seed + 1));
          const plan = planTiles({ width, height, tile: cfg.tile, overlap: cfg.overlap, alignment: a });
          const tiled = runTiled(img, plan, op, channels, scale, rf);
          expect(maxAbsDiff(tiled, op(img, width, height))).toBeLessThan(1e-6);
        },
      ),
      { numRuns: 40 },
    );
  });

  it('feathers across the seam when there is room', () => {
    const plan = planTiles({ width: 48, height: 8, tile: 32, overlap: 8, alignment: 8 });
    const blender = new TileBlender(plan, { channels: 1, scale: 1, margin: 2 });
    blender.add(0, new Float32Array(32 * 8).fill(0));
    blender.add(1, new Float32Array(32 * 8).fill(1));
    const row = Array.from(blender.result().subarray(0, 48));
    const ramp = row.filter((v) => v > 0 && v < 1);
    expect(ramp.length).toBeGreaterThan(4);
    expect(row).toEqual([...row].sort((x, y) => x - y));
  });

  it('is NOT exact when overlap < receptive field (the exactness test can fail)', () => {
    const width = 48;
    const height = 40;
    const op = makeOperator(channels, 2, 3, scale, 7); // RF = 6
    const img = Float32Array.from({ length: channels * width * height }, rng(8));
    const plan = planTiles({ width, height, tile: 16, overlap: 4, alignment: 4 });
    expect(plan.tiles.length).toBeGreaterThan(1);
    const tiled = runTiled(img, plan, op, channels, scale, 6);
    expect(maxAbsDiff(tiled, op(img, width, height))).toBeGreaterThan(1e-3);
    const exact = planTiles({ width, height, tile: 20, overlap: 6, alignment: 2 });
    expect(maxAbsDiff(runTiled(img, exact, op, channels, scale, 6), op(img, width, height))).toBeLessThan(
      1e-6,
    );
  });

  it('validates tiles', () => {
    const plan = planTiles({ width: 16, height: 16, tile: 8, overlap: 2, alignment: 2 });
    const blender = new TileBlender(plan, { channels: 1, scale: 2, margin: 2 });
    expect(() => blender.add(99, new Float32Array(1))).toThrow(/no tile/);
    expect(() => blender.add(0, new Float32Array(3))).toThrow(/must have/);
    expect(() => blender.result()).toThrow(/not been added/);
    blender.add(0, new Float32Array(8 * 8 * 4));
    expect(() => blender.add(0, new Float32Array(8 * 8 * 4))).toThrow(/already/);
  });
});
