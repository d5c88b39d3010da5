import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parseManifest } from './contract.ts';
import { DEFAULT_MAX_INPUT_PIXELS, DEFAULT_MAX_OUTPUT_PIXELS, priceUpscale } from './work.ts';

const manifest = parseManifest(
  JSON.parse(readFileSync(new URL('../testdata/sample-manifest.json', import.meta.url), 'utf8')),
);

describe('priceUpscale', () => {
  it('prices a thin strip by its tiles, not its pixels', () => {
    const strip = priceUpscale(manifest, 8192, 4);
    const square = priceUpscale(manifest, 181, 181); // about the same pixel count
    expect(strip.tiles).toBeGreaterThan(20);
    expect(square.tiles).toBe(1);
    expect(strip.tilePixels).toBe(strip.tiles * strip.tile * strip.tile);
    expect(strip.tilePixels / square.tilePixels).toBeGreaterThan(30);
    expect(strip.bytes).toBeGreaterThan(square.bytes);
  });

  it('grows with the image and counts the output at the model scale', () => {
    const small = priceUpscale(manifest, 500, 500);
    const large = priceUpscale(manifest, 1000, 1000);
    expect(large.bytes).toBeGreaterThan(2.2 * small.bytes);
    expect(large.outputPixels).toBe(1000 * 1000 * manifest.scale ** 2);
  });

  it('one default input limit for every runtime; the output limit is its ×4', () => {
    expect(DEFAULT_MAX_INPUT_PIXELS).toBe(4_000_000);
    expect(DEFAULT_MAX_OUTPUT_PIXELS).toBe(16 * DEFAULT_MAX_INPUT_PIXELS);
  });
});
