import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { OftsrError } from './errors.ts';
import {
  DEFAULT_T,
  OUTPUT_FORMATS,
  canonicalizeParams,
  parseParamsFromHeaders,
  parseParamsFromJson,
  parseParamsFromQuery,
} from './schemas.ts';

const q = (s: string) => parseParamsFromQuery(new URLSearchParams(s));

function badParam(fn: () => unknown): OftsrError {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(OftsrError);
    const e = err as OftsrError;
    expect(e.code).toBe('bad_param');
    expect(e.status).toBe(400);
    return e;
  }
  throw new Error('expected a bad_param error');
}

describe('defaults', () => {
  it('fills every field', () => {
    expect(q('')).toEqual({ sr: 4, t: DEFAULT_T, seed: 0, format: 'auto', q: 85 });
    expect(parseParamsFromJson({})).toEqual(q(''));
    expect(parseParamsFromHeaders(new Headers())).toEqual(q(''));
  });
});

describe('parseParamsFromQuery', () => {
  it('parses text values', () => {
    expect(q('sr=2&t=0.7&seed=42&format=webp&q=90')).toEqual({
      sr: 2,
      t: 0.7,
      seed: 42,
      format: 'webp',
      q: 90,
    });
  });

  it('quantises t to the nearest 0.05', () => {
    expect(q('t=0.71').t).toBe(0.7);
    expect(q('t=0.73').t).toBe(0.75);
    expect(q('t=.7').t).toBe(0.7);
    expect(q('t=0.70').t).toBe(0.7);
    expect(q('t=1').t).toBe(1);
    expect(q('t=0').t).toBe(0);
    expect(q('t=0.01').t).toBe(0);
  });

  it('accepts the seed bounds', () => {
    expect(q('seed=0').seed).toBe(0);
    expect(q('seed=4294967295').seed).toBe(4294967295);
  });

  it('ignores unknown query keys (CDN URLs carry their own)', () => {
    expect(q('v=3&utm_source=x&t=0.2').t).toBe(0.2);
  });

  it.each([
    ['sr', ''],
    ['sr', '3'],
    ['sr', '4.0'],
    ['sr', 'abc'],
    ['t', ''],
    ['t', 'abc'],
    ['t', 'NaN'],
    ['t', '2'],
    ['t', '-0.1'],
    ['t', '1e-1'],
    ['t', '1e400'],
    ['t', ' 0.5'],
    ['t', 'Infinity'],
    ['seed', '-1'],
    ['seed', '4294967296'],
    ['seed', '0x10'],
    ['seed', '1e400'],
    ['seed', '1.5'],
    ['seed', '99999999999999999999'],
    ['format', 'gif'],
    ['format', 'PNG'],
    ['format', ''],
    ['q', '0'],
    ['q', '101'],
    ['q', '85.5'],
  ])('rejects %s=%j, naming the field and range', (field, value) => {
    const err = badParam(() => q(`${field}=${encodeURIComponent(value)}`));
    expect(err.field).toBe(field);
    expect(err.message).toContain(field);
    expect(err.message).toContain(`(got ${JSON.stringify(value)})`);
    expect(err.allowed).toBeDefined();
  });

  it('writes the message the docs promise', () => {
    expect(badParam(() => q('t=2')).message).toBe('t must be a number in [0, 1] (got "2")');
  });

  it('rejects a parameter given twice', () => {
    expect(badParam(() => q('t=0.1&t=0.9')).field).toBe('t');
  });
});

describe('parseParamsFromHeaders', () => {
  it('reads x-oftsr-* headers', () => {
    const h = new Headers({ 'x-oftsr-t': '0.3', 'x-oftsr-sr': '2', 'X-OFTSR-SEED': '7', 'x-other': '1' });
    expect(parseParamsFromHeaders(h)).toMatchObject({ t: 0.3, sr: 2, seed: 7 });
  });

  it('rejects bad header values', () => {
    expect(badParam(() => parseParamsFromHeaders(new Headers({ 'x-oftsr-q': 'abc' }))).field).toBe('q');
  });
});

describe('parseParamsFromJson', () => {
  it('accepts numbers and strict numeric text', () => {
    expect(parseParamsFromJson({ sr: 2, t: 0.71, seed: 5, q: '80' })).toMatchObject({
      sr: 2,
      t: 0.7,
      seed: 5,
      q: 80,
    });
  });

  it('rejects unknown keys', () => {
    const err = badParam(() => parseParamsFromJson({ t: 0.5, strength: 1 }));
    expect(err.field).toBe('strength');
    expect(err.message).toContain('unknown parameter "strength"');
  });

  it.each([null, [], 'x', 3])('rejects a non-object body %j', (body) => {
    badParam(() => parseParamsFromJson(body));
  });

  it.each([
    { t: Number.NaN },
    { t: Number.POSITIVE_INFINITY },
    { seed: 1.5 },
    { seed: -1 },
    { sr: 3 },
    { q: null },
    { format: 1 },
    { t: true },
  ])('rejects %j', (body) => {
    badParam(() => parseParamsFromJson(body));
  });
});

const paramsArb = fc.record({
  sr: fc.constantFrom(2, 4),
  tStep: fc.integer({ min: 0, max: 20 }),
  seed: fc.integer({ min: 0, max: 0xffffffff }),
  format: fc.constantFrom(...OUTPUT_FORMATS),
  q: fc.integer({ min: 1, max: 100 }),
});

describe('canonicalizeParams', () => {
  it('is stable and readable', () => {
    expect(canonicalizeParams(q('t=0.7'))).toBe('format=auto&q=85&seed=0&sr=4&t=0.7');
  });

  it('parse → canonicalize → parse is the identity', () => {
    fc.assert(
      fc.property(paramsArb, ({ tStep, ...rest }) => {
        const text = `sr=${rest.sr}&t=${tStep / 20}&seed=${rest.seed}&format=${rest.format}&q=${rest.q}`;
        const parsed = q(text);
        const canon = canonicalizeParams(parsed);
        expect(q(canon)).toEqual(parsed);
        expect(canonicalizeParams(q(canon))).toBe(canon);
      }),
    );
  });

  it('any spelling of the same request canonicalises equal', () => {
    fc.assert(
      fc.property(
        paramsArb,
        fc.double({ min: -0.0249, max: 0.0249, noNaN: true }),
        fc.integer({ min: 0, max: 3 }),
        fc.boolean(),
        fc.boolean(),
        ({ tStep, ...p }, jitter, zeros, omitDefaults, reverse) => {
          const t = tStep / 20;
          const tJittered = Math.min(1, Math.max(0, t + jitter));
          const tText = tJittered.toFixed(6) + '0'.repeat(zeros);
          const base = canonicalizeParams(parseParamsFromJson({ ...p, t }));
          const pairs: [string, string][] = [
            ['sr', String(p.sr)],
            ['t', tText],
            ['seed', String(p.seed)],
            ['format', p.format],
            ['q', String(p.q)],
            ['cb', 'ignored'],
          ];
          const kept = omitDefaults
            ? pairs.filter(([k, v]) => !(k === 'format' && v === 'auto') && !(k === 'q' && v === '85'))
            : pairs;
          const ordered = reverse ? [...kept].reverse() : kept;
          expect(canonicalizeParams(q(new URLSearchParams(ordered).toString()))).toBe(base);
        },
      ),
    );
  });
});
