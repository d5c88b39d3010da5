import { describe, expect, it } from 'vitest';
import { downscaleLanczos3 } from './resample.ts';

describe('downscaleLanczos3', () => {
  it('keeps constants constant and halves the size', () => {
    const out = downscaleLanczos3(new Float32Array(2 * 8 * 6).fill(0.25), 2, 8, 6, 4, 3);
    expect(out.length).toBe(2 * 4 * 3);
    for (const v of out) expect(v).toBeCloseTo(0.25, 6);
  });
  it('averages a 2-pixel checker away (antialiased)', () => {
    const w = 16;
    const src = new Float32Array(w * w).map((_, i) => (((i % w) + Math.floor(i / w)) % 2 ? 1 : -1));
    const out = downscaleLanczos3(src, 1, w, w, 8, 8);
    for (const v of out) expect(Math.abs(v)).toBeLessThan(0.05);
  });
});
