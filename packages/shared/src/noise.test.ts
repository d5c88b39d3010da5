import { describe, expect, it } from 'vitest';
import vectors from '../testdata/noise-vectors.json' with { type: 'json' };
import { fillNoise, NoiseCache, noiseAt, noiseField, noiseHash } from './noise.ts';

describe('noise vectors shared with training/oftsr/noise.py', () => {
  it('has samples to check', () => {
    expect(vectors.samples.length).toBeGreaterThan(5);
  });

  it.each(vectors.samples)('seed=$seed c=$channel y=$y x=$x', (s) => {
    expect(noiseHash(s.seed, s.channel, s.y, s.x)).toBe(s.hash);
    expect(Math.abs(noiseAt(s.seed, s.channel, s.y, s.x) - s.value)).toBeLessThanOrEqual(vectors.tolerance);
  });

  it('matches the float32 window', () => {
    const w = vectors.window;
    const field = noiseField(w.seed, w.y0, w.x0, w.height, w.width, w.channels);
    expect(Array.from(field)).toEqual(w.values_float32_chw);
  });
});

describe('noiseField', () => {
  it('agrees on the overlap of two windows', () => {
    const a = noiseField(3, 10, 20, 8, 9);
    const b = noiseField(3, 14, 25, 8, 9);
    for (let c = 0; c < 3; c++) {
      for (let y = 14; y < 18; y++) {
        for (let x = 25; x < 29; x++) {
          expect(b[(c * 8 + (y - 14)) * 9 + (x - 25)]).toBe(a[(c * 8 + (y - 10)) * 9 + (x - 20)]);
        }
      }
    }
  });

  it('equals noiseAt rounded to float32 and looks standard normal', () => {
    const f = noiseField(11, 0, 0, 64, 64, 1);
    expect(f[5 * 64 + 7]).toBe(Math.fround(noiseAt(11, 0, 5, 7)));
    const mean = f.reduce((s, v) => s + v, 0) / f.length;
    const variance = f.reduce((s, v) => s + (v - mean) ** 2, 0) / f.length;
    expect(Math.abs(mean)).toBeLessThan(0.06);
    expect(Math.abs(variance - 1)).toBeLessThan(0.08);
  });

  it('depends on the seed and the channel', () => {
    expect(noiseAt(1, 0, 0, 0)).not.toBe(noiseAt(2, 0, 0, 0));
    expect(noiseAt(1, 0, 0, 0)).not.toBe(noiseAt(1, 1, 0, 0));
  });

  it('validates the seed and the buffer', () => {
    expect(() => noiseField(-1, 0, 0, 1, 1)).toThrow(RangeError);
    expect(() => noiseField(2 ** 32, 0, 0, 1, 1)).toThrow(RangeError);
    expect(() => fillNoise(new Float32Array(2), 0, 0, 0, 1, 1)).toThrow(RangeError);
  });
});

describe('NoiseCache', () => {
  it('returns exactly fillNoise values, reuses a window, and stays within its byte bound', () => {
    const window = 3 * 8 * 8 * 4;
    const cache = new NoiseCache({ maxBytes: 2 * window });
    const a = cache.get(7, 16, 24, 8, 8);
    expect(a).toEqual(noiseField(7, 16, 24, 8, 8));
    expect(cache.get(7, 16, 24, 8, 8)).toBe(a);
    expect(cache.get(8, 16, 24, 8, 8)).toEqual(noiseField(8, 16, 24, 8, 8));
    expect(cache.get(7, 16, 32, 8, 8)).toEqual(noiseField(7, 16, 32, 8, 8));
    expect(cache.size).toBe(2 * window);
    expect(cache.get(7, 16, 24, 8, 8)).not.toBe(a); // the least recently used went first
    expect([cache.hits, cache.misses]).toEqual([1, 4]);
    expect(cache.get(0, 0, 0, 16, 16)).toEqual(noiseField(0, 0, 0, 16, 16)); // too big: not kept
    expect(cache.size).toBe(2 * window);
    expect(() => cache.get(-1, 0, 0, 1, 1)).toThrow(RangeError);
  });
});
