import { describe, expect, it } from 'vitest';
import {
  BASELINE_FORMATS,
  ENCODED_FORMATS,
  IMAGE_MIME,
  SOURCE_FORMATS,
  autoFormat,
  isEncodedFormat,
} from './formats.ts';
import { OUTPUT_FORMATS } from './schemas.ts';

describe('formats', () => {
  it('pins what is read and written, and every MIME type', () => {
    expect(ENCODED_FORMATS).toEqual(['png', 'jpeg', 'webp', 'avif']);
    expect(SOURCE_FORMATS).toEqual(['png', 'jpeg', 'webp', 'avif', 'gif']);
    expect(OUTPUT_FORMATS).toEqual(['auto', ...ENCODED_FORMATS]);
    expect(IMAGE_MIME).toEqual({
      png: 'image/png',
      jpeg: 'image/jpeg',
      webp: 'image/webp',
      avif: 'image/avif',
      gif: 'image/gif',
    });
    for (const f of ENCODED_FORMATS) expect(SOURCE_FORMATS).toContain(f);
  });

  it('isEncodedFormat knows what is written', () => {
    expect(ENCODED_FORMATS.every(isEncodedFormat)).toBe(true);
    expect(isEncodedFormat('gif')).toBe(false);
    expect(isEncodedFormat('auto')).toBe(false);
  });
});

describe('autoFormat', () => {
  it('keeps the source format for a caller that takes every written format (the runner)', () => {
    const table = Object.fromEntries(SOURCE_FORMATS.map((s) => [s, autoFormat(s)]));
    expect(table).toEqual({ png: 'png', jpeg: 'jpeg', webp: 'webp', avif: 'avif', gif: 'png' });
    expect(autoFormat(undefined)).toBe('png'); // TIFF, read by the CLI only
  });

  it('gives JPEG for JPEG and PNG for the rest to a caller that named no other format (the edge)', () => {
    const table = Object.fromEntries(SOURCE_FORMATS.map((s) => [s, autoFormat(s, BASELINE_FORMATS)]));
    expect(table).toEqual({ png: 'png', jpeg: 'jpeg', webp: 'png', avif: 'png', gif: 'png' });
  });

  it('never gives a format the caller did not accept, PNG aside', () => {
    for (const s of SOURCE_FORMATS) {
      expect(autoFormat(s, ['webp'])).toBe(s === 'webp' ? 'webp' : 'png');
      expect(autoFormat(s, [])).toBe('png');
    }
  });
});
