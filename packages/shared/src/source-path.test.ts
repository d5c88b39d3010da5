import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { OftsrError } from './errors.ts';
import { canonicalSourcePath } from './source-path.ts';

const UNRESERVED = /^[A-Za-z0-9\-._~]$/;

/** `char` as percent-escapes of its UTF-8 bytes, hex in upper or lower case. */
function utf8Escapes(char: string, upper: boolean): string {
  const hex = [...new TextEncoder().encode(char)].map((b) => `%${b.toString(16).padStart(2, '0')}`).join('');
  return upper ? hex.toUpperCase() : hex;
}

// A segment's characters: unreserved, sub-delims and other ASCII, and non-ASCII (UTF-8 escapes).
const charArb = fc.oneof(
  fc.constantFrom(...'abcxyzLMN0189-._~'),
  fc.constantFrom(...' !$&\'()*+,;=:@%?#[]"<>^`{|}'),
  fc.constantFrom('ü', '日', '本', 'é', '😀'),
);
const segmentArb = fc
  .array(charArb, { minLength: 1, maxLength: 8 })
  .map((cs) => cs.join(''))
  .filter((s) => s !== '.' && s !== '..');
const pathArb = fc.array(segmentArb, { minLength: 1, maxLength: 5 });

/** One random spelling of `segments`: each character literal where the URL allows, or escaped in either case. */
function spellingArb(segments: string[]): fc.Arbitrary<string> {
  const chars = segments.flatMap((s, i) => [...(i === 0 ? '' : '/'), ...s]);
  return fc
    .tuple(
      fc.array(fc.tuple(fc.boolean(), fc.boolean(), fc.integer({ min: 1, max: 3 })), {
        minLength: chars.length,
        maxLength: chars.length,
      }),
      fc.integer({ min: 1, max: 3 }),
    )
    .map(([choices, leading]) => {
      let out = '/'.repeat(leading);
      chars.forEach((c, i) => {
        const [escape, upper, slashes] = choices[i] ?? [false, false, 1];
        if (c === '/') out += '/'.repeat(slashes);
        else if (UNRESERVED.test(c) && !escape) out += c;
        else out += utf8Escapes(c, upper);
      });
      return out;
    });
}

describe('canonicalSourcePath', () => {
  it('gives the six spellings of one path one spelling', () => {
    const spellings = [
      '/%6candscape-192x128.png',
      '/%6Candscape-192x128.png',
      '/l%61ndscape-192x128.png',
      '/landscape%2D192x128.png',
      '//landscape-192x128.png',
      '///landscape-192x128.png',
    ];
    for (const s of spellings) expect(canonicalSourcePath(s), s).toBe('/landscape-192x128.png');
  });

  it('keeps reserved escapes escaped, in upper case', () => {
    expect(canonicalSourcePath('/a%2fb%3f%c3%bc.png')).toBe('/a%2Fb%3F%C3%BC.png');
    expect(canonicalSourcePath('/%20x.png')).toBe('/%20x.png');
  });

  it('refuses malformed escapes and dot segments with 400 on field path', () => {
    for (const bad of ['/a%zz.png', '/a%2', '/a/%2e%2E/b.png', '/a/%2E/b.png', '/..', '/a/./b']) {
      let caught: unknown;
      try {
        canonicalSourcePath(bad);
      } catch (err) {
        caught = err;
      }
      expect(caught, bad).toBeInstanceOf(OftsrError);
      expect((caught as OftsrError).status).toBe(400);
      expect((caught as OftsrError).field).toBe('path');
    }
  });

  it('every spelling of a path has the same canonical form, which decodes to the path', () => {
    fc.assert(
      fc.property(
        pathArb.chain((segments) =>
          fc.tuple(fc.constant(segments), spellingArb(segments), spellingArb(segments)),
        ),
        ([segments, a, b]) => {
          const canonical = canonicalSourcePath(a);
          expect(canonicalSourcePath(b)).toBe(canonical);
          expect(decodeURIComponent(canonical)).toBe(`/${segments.join('/')}`);
          expect(canonicalSourcePath(canonical)).toBe(canonical);
        },
      ),
      { numRuns: 2000 },
    );
  });

  it('different paths keep different canonical forms', () => {
    fc.assert(
      fc.property(pathArb, pathArb, (p, q) => {
        const a = `/${p.map((s) => encodeURIComponent(s)).join('/')}`;
        const b = `/${q.map((s) => encodeURIComponent(s)).join('/')}`;
        fc.pre(p.join('/') !== q.join('/'));
        expect(canonicalSourcePath(a)).not.toBe(canonicalSourcePath(b));
      }),
      { numRuns: 1000 },
    );
  });
});
