import { describe, expect, it } from 'vitest';
import { OftsrError } from './errors.ts';
import { parseManifest } from './contract.ts';
import { NoiseCache, noiseField } from './noise.ts';
import { chooseTile, contextPad, frameSize, planUpscale, upscaleTiles } from './pipeline.ts';
import type { TileExecutor, TileInput } from './pipeline.ts';
import sample from '../testdata/sample-manifest.json' with { type: 'json' };

// A manifest with a small receptive field, so exact tiling fits in small images.
const manifest = parseManifest({ ...sample, alignment: 4, margin: 2, tile: 16 });

/**
 * A stand-in model: each output pixel is a weighted sum of its LR neighbourhood within ±`radius`,
 * each input divided by `denom(dx, dy)` and the sum by `divisor`, plus t × its noise. Outside the
 * tile the neighbourhood is either clamped to the tile's edge or zero (a zero-padded conv).
 */
function stencilModel(
  stencil: {
    radius: number;
    edge: 'clamp' | 'zero';
    denom: (dx: number, dy: number) => number;
    divisor: number;
  },
  calls: TileInput[],
): TileExecutor {
  const { radius, edge, denom, divisor } = stencil;
  return {
    async run(tile) {
      calls.push(tile);
      const { width: w, height: h } = tile;
      const W = 4 * w;
      const H = 4 * h;
      const out = new Float32Array(3 * W * H);
      for (let c = 0; c < 3; c++) {
        for (let v = 0; v < H; v++) {
          for (let u = 0; u < W; u++) {
            const x = Math.floor(u / 4);
            const y = Math.floor(v / 4);
            let sum = 0;
            for (let dy = -radius; dy <= radius; dy++)
              for (let dx = -radius; dx <= radius; dx++) {
                let xx = x + dx;
                let yy = y + dy;
                if (edge === 'clamp') {
                  xx = Math.min(w - 1, Math.max(0, xx));
                  yy = Math.min(h - 1, Math.max(0, yy));
                } else if (xx < 0 || yy < 0 || xx >= w || yy >= h) continue;
                sum += (tile.lr[(c * h + yy) * w + xx] as number) / denom(dx, dy);
              }
            const i = (c * H + v) * W + u;
            out[i] = sum / divisor + tile.t * (tile.noise[i] as number);
          }
        }
      }
      return out;
    },
  };
}

/** A known receptive field of ±1 LR pixel: the mean of the LR 3×3 neighbourhood, clamped to the tile like a padded conv. */
function boxModel(calls: TileInput[] = []): TileExecutor {
  return stencilModel({ radius: 1, edge: 'clamp', denom: () => 1, divisor: 9 }, calls);
}

/**
 * A stand-in for a real conv net's borders: zeros outside the tile, so a tile edge within `radius`
 * of a pixel changes it, as the model's own padding does.
 */
function zeroPadModel(radius: number, calls: TileInput[] = []): TileExecutor {
  return stencilModel(
    { radius, edge: 'zero', denom: (dx, dy) => 1 + dx * dx + 2 * dy * dy, divisor: 4 },
    calls,
  );
}

function ramp(width: number, height: number): Float32Array {
  const rgb = new Float32Array(3 * width * height);
  for (let i = 0; i < rgb.length; i++) rgb[i] = Math.sin(i * 0.37);
  return rgb;
}

describe('chooseTile', () => {
  it('picks the smallest size holding the image with its context, else the largest', () => {
    const m = { margin: 53, alignment: 4 };
    expect(chooseTile([128, 256, 320, 384], m, 48, 40)).toBe(128);
    expect(chooseTile([128, 256, 320, 384], m, 256, 256)).toBe(320);
    expect(chooseTile([128, 256, 320, 384], m, 201, 10)).toBe(320);
    expect(chooseTile([128, 256, 320, 384], m, 1000, 10)).toBe(384);
  });
});

describe('frameSize', () => {
  it('adds the margin (rounded to the alignment) on the right and bottom, then aligns', () => {
    expect(contextPad({ margin: 53, alignment: 4 })).toBe(56);
    expect(frameSize({ margin: 53, alignment: 4 }, 256, 250)).toEqual({ width: 312, height: 308 });
    expect(frameSize({ margin: 0, alignment: 8 }, 9, 8)).toEqual({ width: 16, height: 8 });
  });
});

describe('tile-independent pixels (contract 2)', () => {
  // margin 2 → 4 px of context; the model reads ±2 LR px with zero padding at tile edges.
  const cases: [string, { tile: number; overlap?: number; fixedTile?: boolean }][] = [
    ['one tile, unpadded', { tile: 64 }],
    ['one tile padded to 64', { tile: 64, fixedTile: true }],
    ['one tile padded to 128', { tile: 128, fixedTile: true }],
    ['16² tiles, overlap 4', { tile: 16 }],
    ['24² tiles, overlap 8', { tile: 24, overlap: 8 }],
    ['32² tiles, overlap 4, fixed', { tile: 32, fixedTile: true }],
  ];
  // Aligned sizes: no alignment padding, so without the context the border pixels see the tile edge.
  it.each([
    [36, 20],
    [8, 28],
    [37, 22],
  ])('%d×%d: every tile list gives the same pixels, bit for bit', async (w, h) => {
    const rgb = ramp(w, h);
    const outputs: Float32Array[] = [];
    for (const [, tiling] of cases) {
      outputs.push(
        await upscaleTiles(manifest, rgb, w, h, { t: 0.7, seed: 5, executor: zeroPadModel(2), ...tiling }),
      );
    }
    const [first, ...rest] = outputs as [Float32Array, ...Float32Array[]];
    expect(first.length).toBe(3 * 16 * w * h);
    rest.forEach((out, k) => {
      let diff = 0;
      for (let i = 0; i < out.length; i++)
        diff = Math.max(diff, Math.abs((out[i] as number) - (first[i] as number)));
      // Seams blend two exact values with weights summing to 1: equal up to float32 rounding.
      expect(diff, cases[k + 1]?.[0]).toBeLessThan(1e-6);
    });
    // The single-tile plans (no blend) agree exactly.
    expect(outputs[1]).toEqual(first);
    expect(outputs[2]).toEqual(first);
  });
});

describe('planUpscale', () => {
  it('pads to one fixed tile when asked', () => {
    const plan = planUpscale(manifest, 10, 6, { tile: 16, fixedTile: true });
    expect([plan.width, plan.height, plan.tiles.length]).toEqual([16, 16, 1]);
    // The frame (image + 4 px of context, aligned) is larger than the tile: tiles over the frame.
    expect(planUpscale(manifest, 10, 6, {}).width).toBe(16);
    expect(planUpscale(manifest, 13, 6, { tile: 16, fixedTile: true }).width).toBe(20);
  });
  it('rejects tiles the model cannot take', () => {
    expect(() => planUpscale(manifest, 64, 64, { tile: 6 })).toThrow(OftsrError);
    expect(() => planUpscale(manifest, 64, 64, { tile: 8, overlap: 4 })).toThrow(/twice the overlap/);
  });
});

describe('upscaleTiles', () => {
  it('tiled output equals the one-tile output, with the noise at output coordinates', async () => {
    const [w, h] = [37, 22];
    const rgb = ramp(w, h);
    const calls: TileInput[] = [];
    const tiled = await upscaleTiles(manifest, rgb, w, h, {
      t: 0.5,
      seed: 3,
      tile: 16,
      executor: boxModel(calls),
    });
    const whole = await upscaleTiles(manifest, rgb, w, h, {
      t: 0.5,
      seed: 3,
      tile: 40,
      executor: boxModel(),
    });
    expect(calls.length).toBeGreaterThan(2);
    expect(calls[0]?.noise).toEqual(noiseField(3, 0, 0, 64, 64));
    let maxDiff = 0;
    for (let i = 0; i < whole.length; i++)
      maxDiff = Math.max(maxDiff, Math.abs((tiled[i] as number) - (whole[i] as number)));
    expect(tiled.length).toBe(3 * 4 * w * 4 * h);
    expect(maxDiff).toBeLessThan(1e-5);
  });

  it('reports monotone progress and stops when aborted', async () => {
    const seen: number[] = [];
    await upscaleTiles(manifest, ramp(37, 22), 37, 22, {
      t: 0,
      seed: 0,
      tile: 16,
      executor: boxModel(),
      onProgress: (done) => seen.push(done),
    });
    expect(seen).toEqual(seen.map((_, i) => i + 1));
    const controller = new AbortController();
    const calls: TileInput[] = [];
    const inner = boxModel(calls);
    const executor: TileExecutor = {
      run: async (tile, signal) => {
        if (calls.length === 1) controller.abort(new Error('stop'));
        return inner.run(tile, signal);
      },
    };
    await expect(
      upscaleTiles(manifest, ramp(37, 22), 37, 22, {
        t: 0,
        seed: 0,
        tile: 16,
        executor,
        signal: controller.signal,
      }),
    ).rejects.toThrow('stop');
    expect(calls.length).toBe(2);
  });
});

describe('upscaleTiles with a noise cache', () => {
  it.each([
    [40, 36],
    [16, 16],
    [13, 9],
  ])('gives the same pixels as computed noise at %d×%d, and hits on the second request', async (w, h) => {
    const rgb = ramp(w, h);
    const plain = await upscaleTiles(manifest, rgb, w, h, { t: 0.8, seed: 3, executor: boxModel() });
    const noiseCache = new NoiseCache({ maxBytes: 2 ** 24 });
    // Like the runner's worker session: the tile's buffers are transferred away after the call.
    const box = boxModel();
    const executor: TileExecutor = {
      async run(tile) {
        const out = await box.run(tile);
        structuredClone(tile.noise, { transfer: [tile.noise.buffer as ArrayBuffer] });
        return out;
      },
    };
    const options = { t: 0.8, seed: 3, executor, noiseCache };
    const first = await upscaleTiles(manifest, rgb, w, h, options);
    const misses = noiseCache.misses;
    const second = await upscaleTiles(manifest, rgb, w, h, options);
    expect(first).toEqual(plain);
    expect(second).toEqual(plain);
    expect(noiseCache.misses).toBe(misses);
    expect(noiseCache.hits).toBe(misses);
  });
});

describe('tile noise', () => {
  it.each([false, true])(
    'is exactly each window of the field, band reuse included (cache %s)',
    async (cached) => {
      const calls: TileInput[] = [];
      const w = 52;
      const h = 44;
      const plan = planUpscale(manifest, w, h, {});
      expect(plan.rows).toBeGreaterThan(2);
      expect(plan.columns).toBeGreaterThan(2);
      await upscaleTiles(manifest, ramp(w, h), w, h, {
        t: 0.5,
        seed: 11,
        executor: boxModel(calls),
        ...(cached ? { noiseCache: new NoiseCache({ maxBytes: 2 ** 22 }) } : {}),
      });
      expect(calls).toHaveLength(plan.tiles.length);
      plan.tiles.forEach((tile, k) => {
        const want = noiseField(11, 4 * tile.y, 4 * tile.x, 4 * plan.tileHeight, 4 * plan.tileWidth);
        expect(calls[k]?.noise).toEqual(want);
      });
    },
  );
});
