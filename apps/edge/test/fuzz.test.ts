import fc from 'fast-check';
import { afterEach, beforeEach, expect, it, vi } from 'vitest';
import { call, fakeOrigin, fakeRunner, fixture, mockFetch } from './helpers.ts';

const png = fixture('landscape-192x128.png');

beforeEach(() => {
  mockFetch({ 'origin.test': fakeOrigin({ 'cat.png': png }), 'runner.test': fakeRunner() });
  vi.spyOn(console, 'warn').mockImplementation(() => {});
});

afterEach(() => {
  vi.restoreAllMocks();
});

const keys = fc.constantFrom(
  'sr',
  't',
  'seed',
  'format',
  'q',
  'preset',
  'sig',
  'exp',
  'utm',
  '',
  'T',
  'sr[]',
  '%',
  '&',
);
const values = fc.oneof(
  fc.constantFrom(
    '4',
    '2',
    '0.7',
    '.7',
    '1e3',
    '-1',
    '0x10',
    'NaN',
    'Infinity',
    ' 1',
    '',
    'avif',
    'auto',
    'thumb',
    '%',
    '%zz',
    '1'.repeat(40),
  ),
  fc.string({ maxLength: 20 }),
  fc.double().map(String),
  fc.integer().map(String),
);
const pair = fc.tuple(keys, values);
const raw = fc.oneof(
  fc
    .array(pair, { maxLength: 8 })
    .map((pairs) => pairs.map(([k, v]) => `${k}=${encodeURIComponent(v)}`).join('&')),
  fc.array(pair, { maxLength: 8 }).map((pairs) => pairs.map(([k, v]) => `${k}=${v}`).join('&')),
  fc.string({ maxLength: 60 }),
);
const accept = fc.option(
  fc.oneof(
    fc.constantFrom('image/avif,image/webp,*/*', 'image/webp', '*/*', 'image/avif;q=0'),
    fc.string({ maxLength: 30 }),
  ),
);

it('thousands of random query strings: never a 5xx, never an uncaught exception', async () => {
  const statuses = new Map<number, number>();
  await fc.assert(
    fc.asyncProperty(raw, accept, async (query, acceptHeader) => {
      const headers: Record<string, string> = {};
      if (acceptHeader !== null && /^[\t\x20-\x7e]*$/.test(acceptHeader)) headers.accept = acceptHeader;
      const res = await call(`/fuzz/cat.png?${query}`, { headers });
      statuses.set(res.status, (statuses.get(res.status) ?? 0) + 1);
      expect(res.status).toBeLessThan(500);
      if (res.status >= 400) {
        const body = (await res.json()) as { error: { code: string; field?: string } };
        expect(body.error.code).toBeTypeOf('string');
      } else {
        expect(res.status).toBe(200);
        expect(['miss', 'hit']).toContain(res.headers.get('x-oftsr-cache'));
      }
    }),
    { numRuns: 2_000 },
  );
  expect(statuses.get(200) ?? 0).toBeGreaterThan(0);
  expect(statuses.get(400) ?? 0).toBeGreaterThan(0);
}, 120_000);

// Found by the property below in CI: names of Object.prototype members must be plain misses.
it.each(['valueOf', 'toString', 'constructor', '__proto__', 'hasOwnProperty'])(
  'a source named like an Object.prototype member (/%s) is a 404, not a 5xx',
  async (name) => {
    const res = await call(`/fuzz/${name}?sr=4`);
    expect(res.status).toBe(404);
    const body = (await res.json()) as { error: { code: string } };
    expect(body.error.code).toBeTypeOf('string');
  },
);

it('random paths and query strings (fc.webPath): never a 5xx', async () => {
  await fc.assert(
    fc.asyncProperty(fc.webPath(), fc.webQueryParameters(), async (path, query) => {
      const res = await call(`/${path.replace(/^\/+/, '')}?${query}`);
      expect(res.status).toBeLessThan(500);
    }),
    { numRuns: 1_000 },
  );
}, 120_000);
