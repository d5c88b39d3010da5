/** Synthetic test images (sharp, imported when first used): a deterministic pattern with smooth and sharp content. */

/**
 * A deterministic RGB test pattern (gradients, a disc, stripes) as interleaved 8-bit pixels: smooth
 * and sharp content, so tiling and seed effects are visible.
 */
export function patternPixels(width: number, height: number, channels: 3 | 4 = 3): Uint8Array {
  const px = new Uint8Array(width * height * channels);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const i = (y * width + x) * channels;
      const inDisc = (x - width / 2) ** 2 + (y - height / 2) ** 2 < (Math.min(width, height) / 3) ** 2;
      px[i] = Math.round((255 * x) / Math.max(1, width - 1));
      px[i + 1] = inDisc ? 230 : Math.round((255 * y) / Math.max(1, height - 1));
      px[i + 2] = x % 4 < 2 ? 40 : 200;
      if (channels === 4) px[i + 3] = Math.round((255 * (x + y)) / Math.max(1, width + height - 2));
    }
  }
  return px;
}

/** A pattern image encoded in `format`. */
export async function patternImage(
  width: number,
  height: number,
  format: 'png' | 'jpeg' | 'webp' | 'avif' = 'png',
  channels: 3 | 4 = 3,
): Promise<Buffer> {
  const { default: sharp } = await import('sharp');
  return sharp(Buffer.from(patternPixels(width, height, channels)), { raw: { width, height, channels } })
    .toFormat(format)
    .toBuffer();
}

/** Writes {@link patternPixels} as an image file; the format follows the extension. */
export async function writePattern(
  path: string,
  width: number,
  height: number,
  channels: 3 | 4 = 3,
): Promise<void> {
  const { default: sharp } = await import('sharp');
  await sharp(Buffer.from(patternPixels(width, height, channels)), {
    raw: { width, height, channels },
  }).toFile(path);
}
