import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { deflateSync } from 'node:zlib';
import sharp from 'sharp';
import { afterAll, describe, expect, it } from 'vitest';
import { OftsrError } from '@oftsr/shared';
import { DEFAULT_MAX_INPUT_PIXELS, decodeImage, encodeImage, probeImage, resolveFormat } from './image-io.ts';
import { patternPixels, tempDir } from '../testing/fixtures.ts';

const { dir, cleanup } = tempDir();
afterAll(cleanup);

async function failure(promise: Promise<unknown>): Promise<OftsrError> {
  const err = await promise.then(
    () => null,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(OftsrError);
  return err as OftsrError;
}

const crcTable = Array.from({ length: 256 }, (_, n) => {
  let c = n;
  for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
  return c >>> 0;
});
function crc32(bytes: Buffer): number {
  let c = 0xffffffff;
  for (const b of bytes) c = (crcTable[(c ^ b) & 0xff] as number) ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}
function chunk(type: string, data: Buffer): Buffer {
  const len = Buffer.alloc(4);
  len.writeUInt32BE(data.length);
  const body = Buffer.concat([Buffer.from(type, 'latin1'), data]);
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(body));
  return Buffer.concat([len, body, crc]);
}

/** A tiny valid-looking PNG whose header claims `width`×`height`: the "decompression bomb" shape. */
function pngClaiming(width: number, height: number): Buffer {
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(width, 0);
  ihdr.writeUInt32BE(height, 4);
  ihdr.set([8, 2, 0, 0, 0], 8); // 8-bit RGB
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk('IHDR', ihdr),
    chunk('IDAT', deflateSync(Buffer.alloc(1 + width * 3))), // one row only
    chunk('IEND', Buffer.alloc(0)),
  ]);
}

describe('decodeImage', () => {
  it('decodes RGB PNG to interleaved 8-bit pixels', async () => {
    const png = await sharp(Buffer.from(patternPixels(20, 10)), {
      raw: { width: 20, height: 10, channels: 3 },
    })
      .png()
      .toBuffer();
    const img = await decodeImage(png);
    expect(img).toMatchObject({ width: 20, height: 10, channels: 3, bitDepth: 8, sourceFormat: 'png' });
    expect(Array.from(img.pixels)).toEqual(Array.from(patternPixels(20, 10)));
  });

  it('honours EXIF orientation (6 = rotate 90° clockwise)', async () => {
    // A 30×20 image, left half black and right half white, tagged "display rotated 90° CW".
    const raw = Buffer.alloc(30 * 20 * 3);
    for (let y = 0; y < 20; y++)
      for (let x = 15; x < 30; x++) raw.fill(255, (y * 30 + x) * 3, (y * 30 + x) * 3 + 3);
    const path = join(dir, 'rotated.jpg');
    await sharp(raw, { raw: { width: 30, height: 20, channels: 3 } })
      .jpeg({ quality: 95 })
      .withMetadata({ orientation: 6 })
      .toFile(path);
    expect((await sharp(path).metadata()).orientation).toBe(6);
    const info = await probeImage(path);
    expect([info.width, info.height]).toEqual([20, 30]);
    const img = await decodeImage(path);
    expect([img.width, img.height]).toEqual([20, 30]);
    // After a 90° clockwise turn the original left (black) half is on top.
    const at = (x: number, y: number) => img.pixels[(y * img.width + x) * img.channels] as number;
    expect(at(10, 3)).toBeLessThan(40);
    expect(at(10, 26)).toBeGreaterThan(215);
  });

  it('keeps alpha (RGBA)', async () => {
    const px = patternPixels(16, 12, 4);
    const png = await sharp(Buffer.from(px), { raw: { width: 16, height: 12, channels: 4 } })
      .png()
      .toBuffer();
    const img = await decodeImage(png);
    expect(img.channels).toBe(4);
    expect(Array.from(img.pixels)).toEqual(Array.from(px));
  });

  it('keeps grey images grey', async () => {
    const grey = Buffer.from(Array.from({ length: 8 * 6 }, (_, i) => i * 5));
    const png = await sharp(grey, { raw: { width: 8, height: 6, channels: 1 } })
      .toColourspace('b-w')
      .png()
      .toBuffer();
    const img = await decodeImage(png);
    expect(img.channels).toBe(1);
    expect(Array.from(img.pixels)).toEqual(Array.from(grey));
  });

  it('reads 16-bit PNGs at 16 bits', async () => {
    const values = new Uint16Array(4 * 3 * 3).map((_, i) => 1000 * i + 7);
    const png = await sharp(values, { raw: { width: 4, height: 3, channels: 3 } })
      .toColourspace('rgb16')
      .png()
      .toBuffer();
    const img = await decodeImage(png);
    expect(img.bitDepth).toBe(16);
    expect(img.pixels).toBeInstanceOf(Uint16Array);
    expect(Array.from(img.pixels)).toEqual(Array.from(values));
  });

  it('rejects a truncated file with a clear error', async () => {
    const png = await sharp(Buffer.from(patternPixels(64, 64)), {
      raw: { width: 64, height: 64, channels: 3 },
    })
      .png({ compressionLevel: 0 })
      .toBuffer();
    const path = join(dir, 'truncated.png');
    writeFileSync(path, png.subarray(0, png.length / 2));
    const err = await failure(decodeImage(path));
    expect(err.code).toBe('bad_image');
    expect(err.message).toContain('truncated.png');
  });

  it('rejects a zero-byte file', async () => {
    const path = join(dir, 'empty.png');
    writeFileSync(path, '');
    const err = await failure(decodeImage(path));
    expect(err.code).toBe('bad_image');
    expect(err.message).toMatch(/empty file/);
  });

  it('rejects non-images as unsupported', async () => {
    const path = join(dir, 'notes.png');
    writeFileSync(path, 'these are not pixels\n'.repeat(20));
    const err = await failure(decodeImage(path));
    expect(err.code).toBe('unsupported_format');
    expect(err.status).toBe(415);
  });

  it('rejects animated images', async () => {
    // Two different 8×8 frames stacked vertically; identical frames would be merged by the encoder.
    const frames = Buffer.alloc(8 * 16 * 4, 200).fill(10, 8 * 8 * 4);
    const gif = await sharp(frames, { raw: { width: 8, height: 16, channels: 4, pageHeight: 8 } })
      .gif()
      .toBuffer();
    expect((await sharp(gif).metadata()).pages).toBe(2);
    const err = await failure(decodeImage(gif));
    expect(err.code).toBe('unsupported_format');
    expect(err.message).toMatch(/animated/);
  });

  it('rejects huge dimensions from the header, before decoding', async () => {
    const path = join(dir, 'bomb.png');
    writeFileSync(path, pngClaiming(20000, 20000));
    expect(readFileSync(path).length).toBeLessThan(200_000);
    const started = performance.now();
    const err = await failure(decodeImage(path));
    expect(err.code).toBe('too_large');
    expect(err.status).toBe(413);
    expect(err.message).toMatch(/20000×20000/);
    // Decoding 400 MP would take seconds and over a gigabyte; the header check takes milliseconds.
    expect(performance.now() - started).toBeLessThan(1000);
    expect(DEFAULT_MAX_INPUT_PIXELS).toBeLessThan(20000 * 20000);
  });

  it('applies a custom pixel limit', async () => {
    const png = await sharp(Buffer.from(patternPixels(20, 10)), {
      raw: { width: 20, height: 10, channels: 3 },
    })
      .png()
      .toBuffer();
    expect((await failure(decodeImage(png, { maxPixels: 199 }))).code).toBe('too_large');
    await expect(decodeImage(png, { maxPixels: 200 })).resolves.toMatchObject({ width: 20 });
  });

  it('reports a missing file by name', async () => {
    const err = await failure(decodeImage(join(dir, 'missing.png')));
    expect(err.message).toMatch(/missing\.png: no such file/);
  });
});

describe('encodeImage', () => {
  const image = {
    pixels: patternPixels(16, 8, 4),
    width: 16,
    height: 8,
    channels: 4 as const,
    bitDepth: 8 as const,
  };

  it.each(['png', 'jpeg', 'webp', 'avif'] as const)('writes %s', async (format) => {
    const bytes = await encodeImage(image, { format, quality: 80 });
    const meta = await sharp(bytes).metadata();
    expect(meta.format).toBe(format === 'avif' ? 'heif' : format);
    expect([meta.width, meta.height]).toEqual([16, 8]);
  });

  it('keeps alpha in PNG and resizes with Lanczos when asked', async () => {
    const bytes = await encodeImage(image, { format: 'png', quality: 80, resize: { width: 8, height: 4 } });
    const meta = await sharp(bytes).metadata();
    expect([meta.width, meta.height, meta.channels]).toEqual([8, 4, 4]);
  });

  it('writes 16-bit PNG from 16-bit pixels', async () => {
    const pixels = new Uint16Array(4 * 2 * 3).fill(40000);
    const bytes = await encodeImage(
      { pixels, width: 4, height: 2, channels: 3, bitDepth: 16 },
      { format: 'png', quality: 80 },
    );
    expect((await sharp(bytes).metadata()).depth).toBe('ushort');
    const back = await decodeImage(bytes);
    expect(Array.from(back.pixels)).toEqual(Array.from(pixels));
  });

  it('writes grey as grey', async () => {
    const pixels = new Uint8Array(6 * 4).fill(77);
    const bytes = await encodeImage(
      { pixels, width: 6, height: 4, channels: 1, bitDepth: 8 },
      { format: 'png', quality: 80 },
    );
    expect((await sharp(bytes).metadata()).channels).toBe(1);
  });
});

describe('resolveFormat', () => {
  it('keeps the source format under auto, where it can be written', () => {
    expect(resolveFormat('auto', 'jpeg')).toBe('jpeg');
    expect(resolveFormat('auto', 'heif')).toBe('avif');
    expect(resolveFormat('auto', 'tiff')).toBe('png');
    expect(resolveFormat('webp', 'jpeg')).toBe('webp');
  });
});
