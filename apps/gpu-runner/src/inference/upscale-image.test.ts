import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseParamsFromJson, resizeBicubic } from '@oftsr/shared';
import { decodeImage } from '../io/image-io.ts';
import { loadModel } from './onnx-session.ts';
import type { LoadedModel } from './onnx-session.ts';
import { encodePng, patternPixels, tempDir } from '../testing/fixtures.ts';
import { writeTinyModel } from '../testing/tiny-model.ts';
import { upscaleImage } from './upscale-image.ts';

const { dir, cleanup } = tempDir();
let model: LoadedModel;
beforeAll(async () => {
  model = await loadModel({ modelPath: writeTinyModel(dir).onnxPath });
});
afterAll(async () => {
  await model.session.release();
  cleanup();
});

async function png(
  pixels: Uint8Array | Uint16Array,
  width: number,
  height: number,
  channels: 1 | 2 | 3 | 4,
): Promise<Buffer> {
  let s = sharp(pixels, { raw: { width, height, channels } });
  if (channels <= 2) s = s.toColourspace(pixels instanceof Uint16Array ? 'grey16' : 'b-w');
  else if (pixels instanceof Uint16Array) s = s.toColourspace('rgb16');
  return s.png().toBuffer();
}

describe('upscaleImage (tiny model)', () => {
  it('x4 RGBA: alpha is upscaled separately and kept', async () => {
    const img = await decodeImage(await png(patternPixels(12, 10, 4), 12, 10, 4));
    const out = await upscaleImage(model, img, parseParamsFromJson({ t: '0' }));
    expect([out.format, out.width, out.height]).toEqual(['png', 48, 40]);
    const back = await decodeImage(out.data);
    expect(back.channels).toBe(4);
    // The pattern's alpha ramps from 0 (top-left) to 255 (bottom-right).
    expect(back.pixels[3]).toBeLessThan(20);
    expect(back.pixels[back.pixels.length - 1]).toBeGreaterThan(235);
  });

  it('sr=2 downscales the x4 result, and the format follows the request', async () => {
    const img = await decodeImage(await png(patternPixels(12, 10), 12, 10, 3));
    const out = await upscaleImage(model, img, parseParamsFromJson({ sr: '2', format: 'jpeg', q: '90' }));
    expect([out.format, out.width, out.height]).toEqual(['jpeg', 24, 20]);
    const meta = await sharp(out.data).metadata();
    expect([meta.format, meta.width, meta.height]).toEqual(['jpeg', 24, 20]);
  });

  it('grey stays grey and 16-bit stays 16-bit in PNG', async () => {
    const grey16 = new Uint16Array(9 * 7).map((_, i) => i * 1000);
    const img = await decodeImage(await png(grey16, 9, 7, 1));
    expect([img.channels, img.bitDepth]).toEqual([1, 16]);
    const out = await upscaleImage(model, img, parseParamsFromJson({ t: '0' }));
    const meta = await sharp(out.data).metadata();
    expect([meta.channels, meta.depth, meta.width]).toEqual([1, 'ushort', 36]);
    // Nearest x4 at t = 0 reproduces each source sample exactly (to 16-bit rounding).
    const back = await decodeImage(out.data);
    expect(back.pixels[4 * 36 * 4 + 4]).toBe(grey16[9 * 4 + 1]);
  });

  // Every PNG colour type that carries alpha: the output's alpha plane must be exactly the bicubic
  // ×4 of the input's (the model never sees alpha), quantised to the output depth.
  const W = 10;
  const H = 6;
  const alphaAt = (i: number): number => (i * 37 + 11) % 256;
  const cases: [name: string, png: () => Buffer, alpha: number[], max: number][] = [
    [
      '8-bit grey + alpha (colour type 4)',
      () =>
        encodePng({
          width: W,
          height: H,
          colourType: 4,
          bitDepth: 8,
          samples: Uint8Array.from({ length: 2 * W * H }, (_, k) =>
            k % 2 ? alphaAt(k >> 1) : (k * 5) % 256,
          ),
        }),
      Array.from({ length: W * H }, (_, i) => alphaAt(i)),
      255,
    ],
    [
      '16-bit grey + alpha (colour type 4)',
      () =>
        encodePng({
          width: W,
          height: H,
          colourType: 4,
          bitDepth: 16,
          // big-endian samples: grey, then alpha = alphaAt(i) * 257
          samples: Uint8Array.from({ length: 4 * W * H }, (_, k) => (k % 4 >= 2 ? alphaAt(k >> 2) : 90)),
        }),
      Array.from({ length: W * H }, (_, i) => alphaAt(i) * 257),
      65535,
    ],
    [
      'palette + tRNS (colour type 3)',
      () =>
        encodePng({
          width: W,
          height: H,
          colourType: 3,
          bitDepth: 8,
          samples: Uint8Array.from({ length: W * H }, (_, i) => i % 4),
          palette: Uint8Array.from([255, 0, 0, 0, 255, 0, 0, 0, 255, 9, 9, 9]),
          transparency: Uint8Array.from([0, 100, 200]), // the fourth entry is opaque
        }),
      Array.from({ length: W * H }, (_, i) => [0, 100, 200, 255][i % 4] as number),
      255,
    ],
  ];
  it.each(cases)('%s keeps its alpha, pixel-exact', async (_name, make, alphaIn, max) => {
    const img = await decodeImage(make());
    const out = await upscaleImage(model, img, parseParamsFromJson({ t: '0', format: 'png' }));
    expect((await sharp(out.data).metadata()).hasAlpha).toBe(true);
    const back = await decodeImage(out.data);
    expect([back.width, back.height, back.channels % 2]).toEqual([4 * W, 4 * H, 0]);
    const up = resizeBicubic(
      Float32Array.from(alphaIn, (a) => a / max),
      W,
      H,
      4 * W,
      4 * H,
    );
    const want = Array.from(up, (v) => Math.min(max, Math.max(0, Math.round(v * max))));
    const got = Array.from({ length: 16 * W * H }, (_, i) => back.pixels[(i + 1) * back.channels - 1]);
    expect(got).toEqual(want);
  });
});
