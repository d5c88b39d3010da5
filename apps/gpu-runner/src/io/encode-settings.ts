/**
 * The encoder settings of every output format, chosen from bench/runner/STAGES.md ("Encoder
 * settings": time and bytes at our output sizes, 1 and 4 MP). In one place so the numbers and the
 * code stay side by side; image-io.ts applies them.
 */

/**
 * PNG: zlib level 3 with adaptive row filtering. sharp's default (no filtering) writes files about
 * 1.5× as large; level 3 takes less time than 6 for a file within 4 % of its size.
 */
export const PNG_SETTINGS = { compressionLevel: 3, adaptiveFiltering: true } as const;

/** WebP: effort 2, about 2× faster than libwebp's default 4 for files within 4 % of its size. */
export const WEBP_SETTINGS = { effort: 2 } as const;

/**
 * AVIF: effort 0. libaom's default effort 4 takes seconds per output megapixel on a CPU core (more
 * than the model); effort 0 is tens of times faster, for files about 6 % larger.
 */
export const AVIF_SETTINGS = { effort: 0 } as const;

/**
 * JPEG: mozjpeg (trellis quantisation, progressive): files about 19 % smaller than libjpeg-turbo's,
 * for about 8× its encode time, still a fraction of the model's.
 */
export const JPEG_SETTINGS = { mozjpeg: true } as const;
