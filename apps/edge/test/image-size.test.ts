import { describe, expect, it } from 'vitest';
import { sniffImage } from '../src/image-size.ts';
import { fixture } from './helpers.ts';

describe('sniffImage', () => {
  it.each([
    ['landscape-192x128.png', 'png', 192, 128],
    ['badge-128x128.png', 'png', 128, 128],
    ['landscape.jpg', 'jpeg', 192, 128],
    ['landscape-app1.jpg', 'jpeg', 192, 128],
    ['landscape-lossy.webp', 'webp', 192, 128],
    ['landscape-lossless.webp', 'webp', 192, 128],
    ['badge-alpha.webp', 'webp', 128, 128],
    ['landscape.avif', 'avif', 192, 128],
    ['landscape.gif', 'gif', 192, 128],
  ] as const)('%s is %s %dx%d', (name, format, width, height) => {
    expect(sniffImage(fixture(name))).toEqual({ status: 'ok', format, width, height });
  });

  it('needs only the header: every prefix is need_more until the size is in, then ok', () => {
    for (const name of [
      'landscape-192x128.png',
      'landscape-app1.jpg',
      'landscape-lossy.webp',
      'landscape.avif',
    ]) {
      const bytes = fixture(name);
      let firstOk = -1;
      for (let n = 12; n <= bytes.length; n += n < 200 ? 1 : 97) {
        const probe = sniffImage(bytes.subarray(0, n));
        if (probe.status === 'ok') {
          firstOk = n;
          break;
        }
        expect(probe.status, `${name} at ${n}`).toBe('need_more');
      }
      expect(firstOk, name).toBeGreaterThan(0);
      expect(firstOk, name).toBeLessThan(name.endsWith('app1.jpg') ? 41_000 : 1_000);
    }
  });

  it('reads sizes up to the formats’ limits from synthetic headers', () => {
    const png = new Uint8Array(24);
    png.set([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0, 0, 0, 13, 0x49, 0x48, 0x44, 0x52]);
    new DataView(png.buffer).setUint32(16, 100_000);
    new DataView(png.buffer).setUint32(20, 50_000);
    expect(sniffImage(png)).toEqual({ status: 'ok', format: 'png', width: 100_000, height: 50_000 });

    const vp8x = new Uint8Array(30);
    vp8x.set(new TextEncoder().encode('RIFF\0\0\0\0WEBPVP8X'));
    vp8x.set([0xff, 0xff, 0xff], 24); // width - 1 = 2^24 - 1
    vp8x.set([0x0f, 0x00, 0x00], 27);
    expect(sniffImage(vp8x)).toEqual({ status: 'ok', format: 'webp', width: 16_777_216, height: 16 });
  });

  it('reports unknown, truncated and inconsistent files', () => {
    expect(sniffImage(new TextEncoder().encode('<html></html>')).status).toBe('unknown');
    expect(sniffImage(new Uint8Array(0)).status).toBe('unknown');
    const png = fixture('landscape-192x128.png').slice(0, 24);
    png.set([0x58, 0x58, 0x58, 0x58], 12); // IHDR renamed
    expect(sniffImage(png).status).toBe('invalid');
    const zero = fixture('landscape-192x128.png').slice(0, 24);
    zero.set([0, 0, 0, 0], 16);
    expect(sniffImage(zero)).toMatchObject({ status: 'invalid', format: 'png' });
    expect(sniffImage(new Uint8Array([0xff, 0xd8, 0xff, 0xda, 0, 2]))).toMatchObject({ status: 'invalid' });
  });
});
