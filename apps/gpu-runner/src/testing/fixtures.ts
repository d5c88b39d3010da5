/**
 * Test helpers: temp folders, PNGs written byte by byte, and the real model when it is present. The
 * pattern images come from the harness (@oftsr/devkit), which the benches use too.
 */
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { deflateSync } from 'node:zlib';
import { defaultModelPath, modelPaths } from '../inference/onnx-session.ts';

export { patternImage, patternPixels, writePattern } from '@oftsr/devkit';

/** A fresh temp folder; call the returned `cleanup` in afterAll/afterEach. */
export function tempDir(prefix = 'oftsr-test-'): { dir: string; cleanup: () => void } {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

/**
 * Whether the shipped model (`models/oftsr-student-x4.onnx` + manifest) is present. Tests that need
 * it skip without it, unless `OFTSR_REQUIRE_MODEL=1` (CI, once the model is committed) turns its
 * absence into a failure.
 */
export function realModelPresent(): boolean {
  const paths = modelPaths(defaultModelPath());
  const present = existsSync(paths.onnx) && existsSync(paths.manifest);
  if (!present && process.env.OFTSR_REQUIRE_MODEL === '1') {
    throw new Error(`OFTSR_REQUIRE_MODEL=1 but ${paths.onnx} or its manifest is missing`);
  }
  return present;
}

/** What {@link encodePng} writes: exact IHDR fields, so every PNG colour type can be made. */
export interface PngSpec {
  width: number;
  height: number;
  /** 0 grey, 2 RGB, 3 palette, 4 grey + alpha, 6 RGBA. */
  colourType: 0 | 2 | 3 | 4 | 6;
  bitDepth: 8 | 16;
  /** Samples row-major (big-endian when 16-bit); zeros when absent. */
  samples?: Uint8Array;
  /** PLTE entries as RGB triples (colour type 3). */
  palette?: Uint8Array;
  /** tRNS: per-palette-entry alpha (colour type 3). */
  transparency?: Uint8Array;
  /** Writes an `acTL` chunk (an APNG) claiming this many frames; only the default image is stored. */
  apngFrames?: number;
  /** Stores these bytes as the IDAT payload instead of deflating `samples` (a header that lies). */
  idat?: Uint8Array;
}

const SAMPLES_PER_PIXEL: Readonly<Record<PngSpec['colourType'], number>> = { 0: 1, 2: 3, 3: 1, 4: 2, 6: 4 };

/** A PNG written byte by byte (no encoder choosing the colour type for us). */
export function encodePng(spec: PngSpec): Buffer {
  const crcTable = Array.from({ length: 256 }, (_, n) => {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    return c >>> 0;
  });
  const crc = (buf: Buffer): number => {
    let c = 0xffffffff;
    for (const b of buf) c = (crcTable[(c ^ b) & 0xff] as number) ^ (c >>> 8);
    return (c ^ 0xffffffff) >>> 0;
  };
  const chunk = (type: string, data: Uint8Array): Buffer => {
    const len = Buffer.alloc(4);
    len.writeUInt32BE(data.length);
    const body = Buffer.concat([Buffer.from(type, 'ascii'), data]);
    const sum = Buffer.alloc(4);
    sum.writeUInt32BE(crc(body));
    return Buffer.concat([len, body, sum]);
  };
  const { width, height, colourType, bitDepth } = spec;
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(width, 0);
  ihdr.writeUInt32BE(height, 4);
  ihdr[8] = bitDepth;
  ihdr[9] = colourType;
  const rowBytes = (width * SAMPLES_PER_PIXEL[colourType] * bitDepth) / 8;
  const idat = (): Uint8Array => {
    if (spec.idat) return spec.idat;
    const raw = Buffer.alloc((rowBytes + 1) * height); // filter byte 0 per row
    if (spec.samples) {
      for (let y = 0; y < height; y++) {
        raw.set(spec.samples.subarray(y * rowBytes, (y + 1) * rowBytes), y * (rowBytes + 1) + 1);
      }
    }
    return deflateSync(raw, { level: 9 });
  };
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk('IHDR', ihdr),
    ...(spec.palette ? [chunk('PLTE', spec.palette)] : []),
    ...(spec.transparency ? [chunk('tRNS', spec.transparency)] : []),
    ...(spec.apngFrames === undefined
      ? []
      : [chunk('acTL', Uint8Array.from([0, 0, 0, spec.apngFrames, 0, 0, 0, 0]))]),
    chunk('IDAT', idat()),
    chunk('IEND', Buffer.alloc(0)),
  ]);
}

/**
 * A real decompression bomb: a valid grey PNG of `width`×`height` zero pixels whose deflated data
 * is a few kilobytes (zeros compress about 1000:1), so the file is tiny and decoding it is not.
 */
export function pngBomb(width: number, height: number): Buffer {
  return encodePng({ width, height, colourType: 0, bitDepth: 8 });
}
