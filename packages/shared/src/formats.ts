// Image formats on the wire: what the service reads, what it writes, their MIME types and what
// `format=auto` becomes. The edge, the runner and the SDK use these; none keeps its own list.

/** Formats the service writes (`format=` other than `auto`), in the order they are documented. */
export const ENCODED_FORMATS = ['png', 'jpeg', 'webp', 'avif'] as const;

/** One of {@link ENCODED_FORMATS}. */
export type EncodedFormat = (typeof ENCODED_FORMATS)[number];

/**
 * Formats the service reads from an origin or a request body. GIF only as a still: the edge serves
 * an animated source as the original, the runner refuses it. (The `oftsr` CLI also reads TIFF from
 * local files; that is the CLI's own extra, not part of the wire.)
 */
export const SOURCE_FORMATS = ['png', 'jpeg', 'webp', 'avif', 'gif'] as const;

/** One of {@link SOURCE_FORMATS}. */
export type SourceFormat = (typeof SOURCE_FORMATS)[number];

/** The MIME type of every format read or written, e.g. `IMAGE_MIME.jpeg === 'image/jpeg'`. */
export const IMAGE_MIME: Readonly<Record<SourceFormat, string>> = {
  png: 'image/png',
  jpeg: 'image/jpeg',
  webp: 'image/webp',
  avif: 'image/avif',
  gif: 'image/gif',
};

/**
 * Formats every image decoder reads, so a caller that named no other format can be given them: the
 * edge's `auto` for a browser whose `Accept` names neither AVIF nor WebP.
 */
export const BASELINE_FORMATS: readonly EncodedFormat[] = ['png', 'jpeg'];

/** Whether `format` is one the service writes. */
export function isEncodedFormat(format: string): format is EncodedFormat {
  return (ENCODED_FORMATS as readonly string[]).includes(format);
}

/**
 * What `format=auto` writes once the source is known: the source's own format when the service
 * can write it and the caller decodes it, else PNG (lossless, keeps alpha, decoded everywhere).
 * One rule, two callers: the runner answers a direct caller that asked to keep the source's format
 * (`accepted` = every written format: JPEG stays JPEG, WebP WebP, AVIF AVIF, GIF and TIFF become
 * PNG); the edge, for a browser that named neither AVIF nor WebP, passes {@link BASELINE_FORMATS}
 * (JPEG stays JPEG, everything else becomes PNG).
 *
 * @param source The source's format; `undefined` for one outside {@link SOURCE_FORMATS} (TIFF).
 * @example autoFormat('webp') // 'webp'
 * @example autoFormat('webp', BASELINE_FORMATS) // 'png'
 */
export function autoFormat(
  source: SourceFormat | undefined,
  accepted: readonly EncodedFormat[] = ENCODED_FORMATS,
): EncodedFormat {
  return source !== undefined && isEncodedFormat(source) && accepted.includes(source) ? source : 'png';
}
