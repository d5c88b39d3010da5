import { autoFormat, BASELINE_FORMATS } from '@oftsr/shared';
import type { EncodedFormat, OutputFormat, SourceFormat } from '@oftsr/shared';

// RFC 9110 §12.4.2: qvalue = ( "0" [ "." 0*3DIGIT ] ) / ( "1" [ "." 0*3("0") ] ).
const QVALUE = /^(0(\.[0-9]{0,3})?|1(\.0{0,3})?)$/;

function accepted(accept: string): Map<string, number> {
  const types = new Map<string, number>();
  for (const part of accept.toLowerCase().split(',')) {
    const [type = '', ...params] = part.split(';').map((s) => s.trim());
    if (type === '') continue;
    let q: number | undefined = 1;
    for (const p of params) {
      const eq = p.indexOf('=');
      if (eq < 0 || p.slice(0, eq).trim() !== 'q') continue;
      const value = p.slice(eq + 1).trim();
      // A malformed weight (`q=0.0000000`, `q=2`, `q=.5`) drops the range rather than counting as 1.
      q = QVALUE.test(value) ? Number(value) : undefined;
    }
    if (q !== undefined) types.set(type, Math.max(types.get(type) ?? 0, q));
  }
  return types;
}

/**
 * The format that enters the cache key. An explicit `format` stays; `auto` becomes `avif` when
 * `Accept` names `image/avif`, else `webp` when it names `image/webp`, else stays `auto` (then the
 * source decides: see {@link outputFormat}). Wildcards (`*\/*`, `image/*`) do not count as support:
 * browsers that decode AVIF or WebP say so explicitly. This turns the endless variety of `Accept`
 * headers into three key variants.
 */
export function negotiateFormat(requested: OutputFormat, accept: string | null): OutputFormat {
  if (requested !== 'auto') return requested;
  const types = accepted(accept ?? '');
  if ((types.get('image/avif') ?? 0) > 0) return 'avif';
  if ((types.get('image/webp') ?? 0) > 0) return 'webp';
  return 'auto';
}

/**
 * The format actually encoded for a key format, once the source is known:
 * - `avif` becomes `webp` when the output has more than `avifMaxOutputPixels` pixels, because
 *   AVIF encoding of big images is slow (seconds per megapixel) while WebP stays fast. This holds
 *   for an explicit `format=avif` too, so one key always means one output;
 * - `auto` (a client that named neither AVIF nor WebP) is the shared `autoFormat` rule for a
 *   caller that takes only the {@link BASELINE_FORMATS}: `jpeg` for JPEG sources and `png` for
 *   everything else (alpha survives);
 * - anything else is used as is.
 */
export function outputFormat(
  keyFormat: OutputFormat,
  source: SourceFormat,
  outputPixels: number,
  avifMaxOutputPixels: number,
): EncodedFormat {
  if (keyFormat === 'avif') return outputPixels > avifMaxOutputPixels ? 'webp' : 'avif';
  if (keyFormat === 'auto') return autoFormat(source, BASELINE_FORMATS);
  return keyFormat;
}
