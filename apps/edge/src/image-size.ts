// Image dimensions from the first bytes of a file, without decoding: PNG IHDR, JPEG SOFn, WebP
// (VP8, VP8L, VP8X), AVIF/HEIF `ispe`, GIF logical screen. Pure: bytes in, numbers out.

import type { SourceFormat } from '@oftsr/shared';

/** What {@link sniffImage} learnt from a prefix of a file (its format is one of the shared `SOURCE_FORMATS`). */
export type ImageSniff =
  | { status: 'ok'; format: SourceFormat; width: number; height: number }
  /** Recognised, but the size lies beyond the bytes given so far: call again with more. */
  | { status: 'need_more'; format: SourceFormat }
  /** Recognised, but its header is inconsistent. */
  | { status: 'invalid'; format: SourceFormat; reason: string }
  /** Not one of the {@link SourceFormat}s (or too short to tell). */
  | { status: 'unknown' };

const u16be = (b: Uint8Array, o: number): number => ((b[o] ?? 0) << 8) | (b[o + 1] ?? 0);
const u16le = (b: Uint8Array, o: number): number => (b[o] ?? 0) | ((b[o + 1] ?? 0) << 8);
const u24le = (b: Uint8Array, o: number): number => u16le(b, o) | ((b[o + 2] ?? 0) << 16);
const u32be = (b: Uint8Array, o: number): number => ((u16be(b, o) << 16) >>> 0) + u16be(b, o + 2);
const ascii = (b: Uint8Array, o: number, n: number): string =>
  String.fromCharCode(...b.subarray(o, Math.min(o + n, b.length)));

function sized(format: SourceFormat, width: number, height: number): ImageSniff {
  if (width <= 0 || height <= 0) return { status: 'invalid', format, reason: `zero size ${width}x${height}` };
  return { status: 'ok', format, width, height };
}

function probePng(b: Uint8Array): ImageSniff {
  if (b.length < 24) return { status: 'need_more', format: 'png' };
  if (ascii(b, 12, 4) !== 'IHDR')
    return { status: 'invalid', format: 'png', reason: 'first chunk is not IHDR' };
  return sized('png', u32be(b, 16), u32be(b, 20));
}

// SOF0..SOF15 except DHT (C4), JPG (C8) and DAC (CC).
const isSof = (m: number): boolean => m >= 0xc0 && m <= 0xcf && m !== 0xc4 && m !== 0xc8 && m !== 0xcc;

function probeJpeg(b: Uint8Array): ImageSniff {
  let o = 2;
  for (;;) {
    while (o < b.length && b[o] === 0xff && b[o + 1] === 0xff) o++; // fill bytes
    if (o + 4 > b.length) return { status: 'need_more', format: 'jpeg' };
    if (b[o] !== 0xff) return { status: 'invalid', format: 'jpeg', reason: `no marker at byte ${o}` };
    const marker = b[o + 1] ?? 0;
    if (marker === 0xd9 || marker === 0xda) {
      return { status: 'invalid', format: 'jpeg', reason: 'no frame header before the scan' };
    }
    if ((marker >= 0xd0 && marker <= 0xd7) || marker === 0x01) {
      o += 2;
      continue;
    }
    const length = u16be(b, o + 2);
    if (length < 2) return { status: 'invalid', format: 'jpeg', reason: 'segment length < 2' };
    if (isSof(marker)) {
      if (o + 9 > b.length) return { status: 'need_more', format: 'jpeg' };
      return sized('jpeg', u16be(b, o + 7), u16be(b, o + 5));
    }
    o += 2 + length;
  }
}

function probeWebp(b: Uint8Array): ImageSniff {
  if (b.length < 30) return { status: 'need_more', format: 'webp' };
  const chunk = ascii(b, 12, 4);
  if (chunk === 'VP8 ') {
    if (b[23] !== 0x9d || b[24] !== 0x01 || b[25] !== 0x2a) {
      return { status: 'invalid', format: 'webp', reason: 'bad VP8 start code' };
    }
    return sized('webp', u16le(b, 26) & 0x3fff, u16le(b, 28) & 0x3fff);
  }
  if (chunk === 'VP8L') {
    if (b[20] !== 0x2f) return { status: 'invalid', format: 'webp', reason: 'bad VP8L signature' };
    const bits = ((b[21] ?? 0) | ((b[22] ?? 0) << 8) | ((b[23] ?? 0) << 16) | ((b[24] ?? 0) << 24)) >>> 0;
    return sized('webp', (bits & 0x3fff) + 1, ((bits >>> 14) & 0x3fff) + 1);
  }
  if (chunk === 'VP8X') return sized('webp', u24le(b, 24) + 1, u24le(b, 27) + 1);
  return { status: 'invalid', format: 'webp', reason: `unknown first chunk ${JSON.stringify(chunk)}` };
}

/** Walks ISO-BMFF boxes in [start, end); calls `visit(type, bodyStart, boxEnd)`; false = truncated. */
function walkBoxes(
  b: Uint8Array,
  start: number,
  end: number,
  visit: (type: string, body: number, boxEnd: number) => void,
): boolean {
  let o = start;
  while (o + 8 <= end) {
    let size = u32be(b, o);
    const type = ascii(b, o + 4, 4);
    let body = o + 8;
    if (size === 1) {
      if (o + 16 > b.length) return false;
      size = u32be(b, o + 8) * 2 ** 32 + u32be(b, o + 12);
      body = o + 16;
    } else if (size === 0) {
      size = end - o;
    }
    if (size < body - o) return true; // malformed: stop, the caller reports what it found
    if (o + size > b.length && (type === 'meta' || type === 'iprp' || type === 'ipco')) return false;
    visit(type, body, Math.min(o + size, end));
    o += size;
  }
  return true;
}

function probeHeif(b: Uint8Array): ImageSniff {
  let width = 0;
  let height = 0;
  let truncated = false;
  const seek = (start: number, end: number, path: readonly string[]): void => {
    const complete = walkBoxes(b, start, end, (type, body, boxEnd) => {
      if (type !== path[0]) return;
      if (type === 'ispe') {
        if (body + 12 > b.length) {
          truncated = true;
          return;
        }
        const w = u32be(b, body + 4);
        const h = u32be(b, body + 8);
        if (w * h > width * height) [width, height] = [w, h]; // the largest: a cap must not miss it
        return;
      }
      seek(type === 'meta' ? body + 4 : body, boxEnd, path.slice(1)); // meta is a full box
    });
    if (!complete) truncated = true;
  };
  seek(0, b.length, ['meta', 'iprp', 'ipco', 'ispe']);
  // Without an ispe yet (or with ipco cut short) more bytes may hold it: meta may follow mdat.
  if (width > 0 && !truncated) return sized('avif', width, height);
  return { status: 'need_more', format: 'avif' };
}

/**
 * Recognises a source image and reads its size from a prefix of its bytes. Feed it the bytes
 * received so far; `need_more` means the header continues beyond them.
 *
 * @example sniffImage(firstChunk) // { status: 'ok', format: 'png', width: 192, height: 128 }
 */
export function sniffImage(bytes: Uint8Array): ImageSniff {
  const b = bytes;
  if (b.length >= 8 && b[0] === 0x89 && ascii(b, 1, 3) === 'PNG' && b[4] === 0x0d && b[5] === 0x0a) {
    return probePng(b);
  }
  if (b.length >= 3 && b[0] === 0xff && b[1] === 0xd8 && b[2] === 0xff) return probeJpeg(b);
  if (b.length >= 12 && ascii(b, 0, 4) === 'RIFF' && ascii(b, 8, 4) === 'WEBP') return probeWebp(b);
  if (b.length >= 12 && ascii(b, 4, 4) === 'ftyp') {
    const brands = ascii(b, 8, Math.max(0, Math.min(u32be(b, 0), b.length) - 8));
    if (/avif|avis|heic|heix|mif1/.test(brands)) return probeHeif(b);
  }
  if (b.length >= 10 && /^GIF8[79]a$/.test(ascii(b, 0, 6))) return sized('gif', u16le(b, 6), u16le(b, 8));
  return { status: 'unknown' };
}

/** Counts a GIF's image descriptors, stopping at `stopAt` (walks the block structure, no LZW). */
function gifFrames(b: Uint8Array, stopAt: number): number {
  let o = 13;
  const packed = b[10] ?? 0;
  if (packed & 0x80) o += 3 * 2 ** ((packed & 7) + 1);
  const skipSubBlocks = (): void => {
    while (o < b.length && (b[o] ?? 0) !== 0) o += (b[o] ?? 0) + 1;
    o += 1;
  };
  let frames = 0;
  while (o < b.length && frames < stopAt) {
    const block = b[o];
    if (block === 0x2c) {
      frames += 1;
      const local = b[o + 9] ?? 0;
      o += 10;
      if (local & 0x80) o += 3 * 2 ** ((local & 7) + 1);
      o += 1; // LZW minimum code size
      skipSubBlocks();
    } else if (block === 0x21) {
      o += 2;
      skipSubBlocks();
    } else {
      break; // 0x3b trailer, or garbage: stop counting
    }
  }
  return frames;
}

/** Whether a PNG has an `acTL` chunk (APNG) before its first `IDAT`. */
function apng(b: Uint8Array): boolean {
  let o = 8;
  while (o + 8 <= b.length) {
    const type = ascii(b, o + 4, 4);
    if (type === 'acTL') return true;
    if (type === 'IDAT' || type === 'IEND') return false;
    o += 12 + u32be(b, o);
  }
  return false;
}

/**
 * Whether a source is animated (more than one frame): a GIF with two image descriptors, an APNG, a
 * WebP with the VP8X animation flag, an AVIF image sequence (`avis` brand). Header bytes only.
 */
export function isAnimated(bytes: Uint8Array, format: SourceFormat): boolean {
  switch (format) {
    case 'gif':
      return gifFrames(bytes, 2) > 1;
    case 'png':
      return apng(bytes);
    case 'webp':
      return ascii(bytes, 12, 4) === 'VP8X' && ((bytes[20] ?? 0) & 0x02) !== 0;
    case 'avif':
      return ascii(bytes, 8, 4) === 'avis';
    case 'jpeg':
      return false;
  }
}
