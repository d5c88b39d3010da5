import { describe, expect, it } from 'vitest';
import { OftsrError } from './errors.ts';
import {
  canonicalizeParams,
  parseMetadata,
  parseOnError,
  parseWait,
  MAX_WAIT_MS,
  parseParamsFromQuery,
  resolveOutputSize,
} from './schemas.ts';

const q = (text: string) => parseParamsFromQuery(new URLSearchParams(text));

describe('sizing parameters (width, height, dpr, fit)', () => {
  it('folds dpr into the box and defaults fit, so equivalent URLs are one request', () => {
    const a = canonicalizeParams(q('width=800&dpr=2'));
    expect(a).toBe(canonicalizeParams(q('width=1600')));
    expect(a).toBe(canonicalizeParams(q('width=1600&fit=scale-down&dpr=1')));
    expect(a).toBe('fit=scale-down&format=auto&q=85&seed=0&t=0.5&width=1600');
    expect(a).not.toBe(canonicalizeParams(q('width=1600&fit=contain')));
    // The canonical form parses back to itself.
    expect(canonicalizeParams(q(a))).toBe(a);
  });

  it('leaves requests without a box exactly as before (their cache keys do not move)', () => {
    expect(canonicalizeParams(q('sr=2&t=0.7'))).toBe('format=auto&q=85&seed=0&sr=2&t=0.7');
  });

  it.each([
    ['sr=4&width=800', 'sr'],
    ['dpr=2', 'dpr'],
    ['fit=cover', 'fit'],
    ['width=0', 'width'],
    ['width=800.5', 'width'],
    ['height=20000', 'height'],
    ['width=9000&dpr=2', 'width'],
    ['width=100&dpr=5', 'dpr'],
    ['width=100&fit=fill', 'fit'],
  ])('refuses %s naming %s', (text, field) => {
    expect(() => q(text)).toThrow(OftsrError);
    try {
      q(text);
    } catch (err) {
      expect((err as OftsrError).field).toBe(field);
      expect((err as OftsrError).status).toBe(400);
    }
  });

  it('resolves a box against the source: the model path and the final size', () => {
    expect(resolveOutputSize(q('width=800'), 200, 150)).toEqual({
      sr: 4,
      width: 800,
      height: 600,
      crop: false,
    });
    expect(resolveOutputSize(q('width=300'), 200, 150)).toEqual({
      sr: 2,
      width: 300,
      height: 225,
      crop: false,
    });
    expect(resolveOutputSize(q('width=800&height=300&fit=contain'), 200, 150)).toEqual({
      sr: 2,
      width: 400,
      height: 300,
      crop: false,
    });
    expect(resolveOutputSize(q('width=800&height=300&fit=cover'), 200, 150)).toEqual({
      sr: 4,
      width: 800,
      height: 300,
      crop: true,
    });
    // scale-down caps at ×4; contain refuses, naming the field.
    expect(resolveOutputSize(q('width=2000'), 200, 150)).toEqual({
      sr: 4,
      width: 800,
      height: 600,
      crop: false,
    });
    expect(() => resolveOutputSize(q('width=2000&fit=contain'), 200, 150)).toThrow(/width=2000 needs ×10/);
    expect(resolveOutputSize(q('sr=2'), 200, 150)).toEqual({ sr: 2, width: 400, height: 300, crop: false });
  });
});

describe('onerror', () => {
  it('takes original or redirect, and refuses anything else', () => {
    expect(parseOnError(new URLSearchParams('onerror=redirect'))).toBe('redirect');
    expect(parseOnError(new URLSearchParams(''))).toBeUndefined();
    expect(() => parseOnError(new URLSearchParams('onerror=ignore'))).toThrow(/onerror must be/);
  });
});

describe('metadata', () => {
  it('none (the default) is what outputs are; keep is refused, not silently stripped', () => {
    expect(parseMetadata(new URLSearchParams(''))).toBe('none');
    expect(parseMetadata(new URLSearchParams('metadata=none'))).toBe('none');
    expect(() => parseMetadata(new URLSearchParams('metadata=keep'))).toThrow(
      /metadata=keep is not supported/,
    );
    expect(() => parseMetadata(new URLSearchParams('metadata=copyright'))).toThrow(/metadata must be none/);
  });
});

describe('wait (edge-only)', () => {
  it('is an integer of ms in [0, MAX_WAIT_MS], absent by default, never part of the params', () => {
    expect(parseWait(new URLSearchParams(''))).toBeUndefined();
    expect(parseWait(new URLSearchParams('wait=0'))).toBe(0);
    expect(parseWait(new URLSearchParams(`wait=${MAX_WAIT_MS}`))).toBe(MAX_WAIT_MS);
    for (const bad of [
      'wait=-1',
      'wait=1.5',
      'wait=',
      'wait=abc',
      `wait=${MAX_WAIT_MS + 1}`,
      'wait=1&wait=2',
    ]) {
      expect(() => parseWait(new URLSearchParams(bad)), bad).toThrow(
        expect.objectContaining({ status: 400, field: 'wait' }),
      );
    }
    expect(canonicalizeParams(q('sr=4&wait=100'))).toBe(canonicalizeParams(q('sr=4')));
  });
});
