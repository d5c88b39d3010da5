import { readFileSync, existsSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { OftsrError } from './errors.ts';
import { readOnnxMetadata } from './onnx-metadata.ts';

/** Protobuf helpers for hand-built ModelProto bytes. */
function varint(n: number): number[] {
  const out: number[] = [];
  do {
    let b = n % 128;
    n = Math.floor(n / 128);
    if (n > 0) b |= 0x80;
    out.push(b);
  } while (n > 0);
  return out;
}
function lengthField(field: number, payload: number[]): number[] {
  return [...varint(field * 8 + 2), ...varint(payload.length), ...payload];
}
const utf8 = (s: string): number[] => [...new TextEncoder().encode(s)];
const entry = (k: string, v: string): number[] =>
  lengthField(14, [...lengthField(1, utf8(k)), ...lengthField(2, utf8(v))]);

describe('readOnnxMetadata', () => {
  it('reads metadata_props among other top-level fields of every wire type', () => {
    const bytes = new Uint8Array([
      ...varint(1 * 8 + 0),
      ...varint(8), // ir_version = 8 (varint)
      ...lengthField(2, utf8('producer')),
      ...entry('margin', '53'),
      ...lengthField(
        7,
        Array.from({ length: 300 }, (_, i) => i % 256),
      ), // a graph-sized blob, skipped
      ...varint(9 * 8 + 1),
      1,
      2,
      3,
      4,
      5,
      6,
      7,
      8, // fixed64
      ...varint(10 * 8 + 5),
      1,
      2,
      3,
      4, // fixed32
      ...entry('version', '2026.11.28-abc'),
      ...entry('note', 'ünïcödé'),
    ]);
    expect(readOnnxMetadata(bytes)).toEqual({ margin: '53', version: '2026.11.28-abc', note: 'ünïcödé' });
  });

  it('returns nothing for a model without metadata', () => {
    expect(readOnnxMetadata(new Uint8Array([...lengthField(2, utf8('x'))]))).toEqual({});
  });

  it('rejects truncated or non-protobuf bytes with a model_contract error', () => {
    const good = entry('k', 'value');
    expect(() => readOnnxMetadata(new Uint8Array(good.slice(0, -2)))).toThrow(OftsrError);
    expect(() => readOnnxMetadata(new Uint8Array([0x0b]))).toThrow(/wire type 3/);
    expect(() => readOnnxMetadata(new Uint8Array([0x80, 0x80]))).toThrow(/truncated/);
  });

  const shipped = new URL('../../../models/oftsr-student-x4.onnx', import.meta.url);
  // The embedded model is committed: CI (OFTSR_REQUIRE_MODEL=1) fails without it instead of skipping.
  const required = process.env.OFTSR_REQUIRE_MODEL === '1';
  it.skipIf(!required && !existsSync(shipped))('agrees with the shipped model manifest', () => {
    const meta = readOnnxMetadata(readFileSync(shipped));
    const manifest = JSON.parse(
      readFileSync(new URL('../../../models/oftsr-student-x4.json', import.meta.url), 'utf8'),
    ) as Record<string, unknown>;
    for (const key of ['version', 'alignment', 'margin', 'tile', 'scale'] as const) {
      expect(meta[key]).toBe(String(manifest[key]));
    }
    expect(meta.trained).toBe(String(manifest.trained));
  });
});
