import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  pixelsToTensor,
  resizeBicubic,
  tensorToPixels,
  type BitDepth,
  type PixelChannels,
} from './tensor.ts';

describe('pixelsToTensor / tensorToPixels', () => {
  it('maps 8-bit RGB to CHW in [-1, 1]', () => {
    const { rgb, alpha } = pixelsToTensor(Uint8Array.from([0, 255, 51, 255, 0, 0]), 2, 1, 3, 8);
    expect(alpha).toBeNull();
    expect(Array.from(rgb)).toEqual([-1, 1, 1, -1, Math.fround(0.2 * 2 - 1), -1]);
  });

  it('replicates grey and splits alpha', () => {
    const { rgb, alpha } = pixelsToTensor(Uint8ClampedArray.from([255, 0, 0, 255]), 2, 1, 2, 8);
    expect(Array.from(rgb)).toEqual([1, -1, 1, -1, 1, -1]);
    expect(Array.from(alpha ?? [])).toEqual([0, 1]);
  });

  it.each([
    [1, 8],
    [2, 8],
    [3, 8],
    [4, 8],
    [1, 16],
    [2, 16],
    [3, 16],
    [4, 16],
  ] as [PixelChannels, BitDepth][])('round-trips %i channels at %i bits exactly', (channels, bitDepth) => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 7 }),
        fc.integer({ min: 1, max: 7 }),
        fc.array(fc.integer({ min: 0, max: bitDepth === 8 ? 255 : 65535 }), {
          minLength: 7 * 7 * 4,
          maxLength: 7 * 7 * 4,
        }),
        (w, h, values) => {
          const n = w * h * channels;
          const px =
            bitDepth === 8 ? Uint8Array.from(values.slice(0, n)) : Uint16Array.from(values.slice(0, n));
          const { rgb, alpha } = pixelsToTensor(px, w, h, channels, bitDepth);
          expect(tensorToPixels(rgb, alpha, w, h, { channels, bitDepth })).toEqual(px);
        },
      ),
      { numRuns: 30 },
    );
  });

  it('clamps and rounds out-of-range values, and writes missing alpha opaque', () => {
    const rgb = Float32Array.from([-1.5, 1.5, 0, 0.001, -0.999, 2]);
    const out = tensorToPixels(rgb, null, 2, 1, { channels: 4, bitDepth: 8 });
    expect(Array.from(out)).toEqual([0, 128, 0, 255, 255, 128, 255, 255]);
  });

  it('rejects mismatched lengths', () => {
    expect(() => pixelsToTensor(new Uint8Array(5), 2, 1, 3, 8)).toThrow(RangeError);
    expect(() => tensorToPixels(new Float32Array(5), null, 2, 1, { channels: 3, bitDepth: 8 })).toThrow(
      RangeError,
    );
  });
});

describe('resizeBicubic', () => {
  it('keeps constants constant and is the identity at scale 1', () => {
    const plane = Float32Array.from({ length: 12 }, (_, i) => (i * 7) % 5);
    expect(resizeBicubic(plane, 4, 3, 4, 3)).toEqual(plane);
    const ones = resizeBicubic(new Float32Array(6).fill(0.5), 3, 2, 12, 8);
    for (const v of ones) expect(v).toBeCloseTo(0.5, 6);
  });

  it('interpolates a linear ramp linearly inside the image', () => {
    const ramp = Float32Array.from([0, 1, 2, 3, 4, 5, 6, 7]);
    const up = resizeBicubic(ramp, 8, 1, 32, 1);
    // Half-pixel centres: output u samples input (u + 0.5)/4 − 0.5.
    for (let u = 8; u < 24; u++) expect(up[u]).toBeCloseTo((u + 0.5) / 4 - 0.5, 5);
    // Catmull-Rom overshoots slightly at a clamped edge; callers clamp (tensorToPixels does).
    expect(Math.abs(up[0]!)).toBeLessThan(0.1);
  });

  it('upscales a 2-D alpha plane to the model output size', () => {
    const alpha = Float32Array.from([0, 1, 1, 0]);
    const up = resizeBicubic(alpha, 2, 2, 8, 8);
    expect(up.length).toBe(64);
    expect(up[0]!).toBeLessThan(0.2);
    expect(up[7]!).toBeGreaterThan(0.8);
    expect(up[63]).toBeCloseTo(up[0]!, 6);
  });
});
