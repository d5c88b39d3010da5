// The edge's hostile corpus, in workerd: path spellings and escapes, SSRF forms (IPv4 spellings,
// IPv6 ranges, other ports), stalled and lying origins, failing and lying runners, and odd
// headers. Every case must get its expected answer; the figures (tried, refused correctly,
// crashes = 500 `internal`, hangs, lost data = a truncated output stored or an empty 200) are
// printed and must show no crash, hang or loss.
import { env } from 'cloudflare:workers';
import { ErrorBody } from '@oftsr/shared';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { r2Key } from '../src/cache.ts';
import { call, fakeOrigin, fakeRunner, fixture, mockFetch, type HostHandler } from './helpers.ts';

const png = fixture('landscape-192x128.png');

beforeEach(() => {
  vi.spyOn(console, 'warn').mockImplementation(() => {});
  vi.spyOn(console, 'error').mockImplementation(() => {});
});

afterEach(() => {
  vi.restoreAllMocks();
});

interface EdgeCase {
  name: string;
  path: string;
  hosts?: Record<string, HostHandler>;
  env?: Record<string, string>;
  headers?: Record<string, string>;
  status: number;
  /** error.code for errors, or X-Oftsr-Fallback-Reason for fallbacks. */
  code?: string;
  /** Hosts that must never have been called. */
  untouched?: string[];
}

const redirect =
  (location: string): HostHandler =>
  () =>
    new Response(null, { status: 302, headers: { location } });
const stalled: HostHandler = () =>
  new Response(
    new ReadableStream<Uint8Array>({
      start(controller) {
        controller.enqueue(png.subarray(0, 100));
      },
    }),
  );
/** A PNG header claiming 100000×100000, then nothing. */
const hugeHeader = (() => {
  const bytes = png.slice(0, 33);
  new DataView(bytes.buffer).setUint32(16, 100_000);
  new DataView(bytes.buffer).setUint32(20, 100_000);
  return bytes;
})();
const origin = (handler: HostHandler): Record<string, HostHandler> => ({
  'origin.test': handler,
  'runner.test': fakeRunner(),
  'evil.example': fakeOrigin({ 'cat.png': png }),
});
const serving = origin(fakeOrigin({ 'cat.png': png }));

function cases(id: string): EdgeCase[] {
  const list: EdgeCase[] = [];
  // Spellings of one path: all served, one key (checked below), nothing outside the origin.
  for (const spelling of [
    `/${id}/cat.png`,
    `/${id}/%63at.png`,
    `/${id}/ca%74.png`,
    `/${id}/c%61t.png`,
    `/${id}//cat.png`,
    `//${id}///cat.png`,
    `/${id}/./cat.png`,
    `/${id}/x/../cat.png`,
    `/${id}/%2e/cat.png`,
  ]) {
    list.push({
      name: `spelling ${spelling.replace(id, 'ID')}`,
      path: spelling,
      hosts: serving,
      status: 200,
    });
  }
  // Escapes that could leave the origin, or are not paths at all.
  for (const bad of [
    '/a/..%2f..%2fsecret.png',
    '/a%5c..%5csecret.png',
    '/a%00.png',
    '/%E0%A4%A.png',
    '/a%zz.png',
  ]) {
    list.push({ name: `path ${bad}`, path: bad, hosts: serving, status: 400, code: 'bad_param' });
  }
  list.push({ name: 'a 2000-character path', path: `/${'a'.repeat(2000)}.png`, hosts: serving, status: 400 });
  list.push({
    name: 'path //evil.example/cat.png stays under the origin',
    path: '//evil.example/cat.png',
    hosts: serving,
    status: 200,
    untouched: ['evil.example'],
  });
  // Redirects to forbidden places: every hop is checked.
  for (const target of [
    'http://127.0.0.1/x.png',
    'http://0x7f.1/x.png',
    'http://2130706433/x.png',
    'http://[::1]/x.png',
    'http://[::ffff:127.0.0.1]/x.png',
    'http://[::ffff:0:127.0.0.1]/x.png',
    'http://[64:ff9b::a9fe:a9fe]/x.png',
    'http://[64:ff9b:1::1]/x.png',
    'http://[2002:7f00:1::]/x.png',
    'http://[fd00::1]/x.png',
    'http://[fe80::1]/x.png',
    'http://169.254.169.254/latest/meta-data',
    'http://localhost/x.png',
    'http://metadata.google.internal/x.png',
    'https://evil.example/cat.png',
    'http://origin.test/images/cat.png',
    'https://origin.test:8443/images/cat.png',
    'file:///etc/passwd',
    'https://user:pw@origin.test/images/cat.png',
  ]) {
    list.push({
      name: `redirect to ${target}`,
      path: `/${id}/r.png`,
      hosts: origin(redirect(target)),
      env: { ALLOW_PRIVATE_ORIGINS: 'false' },
      status: 502,
      code: 'upstream',
      untouched: ['evil.example', 'runner.test'],
    });
  }
  // Origins that stall, lie or fail.
  const more: EdgeCase[] = [
    {
      name: 'origin stalls mid-body',
      path: `/${id}/s.png`,
      hosts: origin(stalled),
      env: { SOURCE_TIMEOUT_MS: '300' },
      status: 504,
      code: 'timeout',
    },
    {
      name: 'origin claims 20 MiB',
      path: `/${id}/big.png`,
      hosts: origin(() => new Response(png, { headers: { 'content-length': String(20 * 1024 * 1024) } })),
      status: 413,
      code: 'too_large',
    },
    {
      name: 'header claims 100000×100000',
      path: `/${id}/h.png`,
      hosts: origin(() => new Response(hugeHeader)),
      status: 413,
      code: 'too_large',
    },
    {
      name: 'HTML served as an image',
      path: `/${id}/x.png`,
      hosts: origin(() => new Response('<html>')),
      status: 415,
      code: 'unsupported_format',
    },
    {
      name: 'truncated PNG header',
      path: `/${id}/t.png`,
      hosts: origin(() => new Response(png.subarray(0, 20))),
      status: 400,
      code: 'bad_image',
    },
    {
      name: 'origin 500',
      path: `/${id}/e.png`,
      hosts: origin(() => new Response('x', { status: 500 })),
      status: 502,
      code: 'upstream',
    },
    {
      name: 'origin 404',
      path: `/${id}/n.png`,
      hosts: origin(() => new Response('x', { status: 404 })),
      status: 404,
      code: 'not_found',
    },
    {
      name: 'redirect loop',
      path: `/${id}/l.png`,
      hosts: origin(redirect(`/images/${id}/l.png`)),
      status: 502,
      code: 'upstream',
    },
    {
      name: 'redirect without Location',
      path: `/${id}/nl.png`,
      hosts: origin(() => new Response(null, { status: 302 })),
      status: 502,
      code: 'upstream',
    },
  ];
  list.push(...more);
  // Runners that refuse, fail, stall or lie: the original is served, truthfully labelled.
  const runner = (handler: HostHandler): Record<string, HostHandler> => ({
    'origin.test': fakeOrigin({ 'cat.png': png }),
    'runner.test': handler,
  });
  list.push(
    {
      name: 'runner refuses (422)',
      path: `/${id}/a/cat.png`,
      hosts: runner(fakeRunner({ status: 422, code: 'too_large' })),
      status: 200,
      code: 'unsupported',
    },
    {
      name: 'runner overloaded (429)',
      path: `/${id}/b/cat.png`,
      hosts: runner(fakeRunner({ status: 429, code: 'overloaded' })),
      status: 200,
      code: 'overloaded',
    },
    {
      name: 'runner failing (500)',
      path: `/${id}/c/cat.png`,
      hosts: runner(fakeRunner({ status: 500 })),
      status: 200,
      code: 'upstream',
    },
    {
      name: 'runner too slow',
      path: `/${id}/d/cat.png`,
      hosts: runner(fakeRunner({ delayMs: 2_000 })),
      env: { RUNNER_TIMEOUT_MS: '100' },
      status: 200,
      code: 'timeout',
    },
    {
      name: 'runner answers text/plain',
      path: `/${id}/e/cat.png`,
      hosts: runner(() => new Response('ok', { headers: { 'content-type': 'text/plain' } })),
      status: 200,
      code: 'upstream',
    },
  );
  // Odd headers.
  list.push(
    {
      name: 'Accept with a malformed q',
      path: `/${id}/cat.png`,
      hosts: serving,
      headers: { accept: 'image/avif;q=0.0000000' },
      status: 200,
    },
    {
      name: 'If-None-Match: * on a cached output',
      path: `/${id}/cat.png`,
      hosts: serving,
      headers: { 'if-none-match': '*' },
      status: 304,
    },
  );
  return list;
}

describe('hostile corpus against the edge (workerd)', () => {
  it('every case gets its answer; no crash, hang or lost data', async () => {
    const id = crypto.randomUUID();
    const figures = { tried: 0, refusedCorrectly: 0, servedCorrectly: 0, crashes: 0, hangs: 0, lostData: 0 };
    const wrong: string[] = [];
    const etags = new Set<string | null>();
    for (const c of cases(id)) {
      figures.tried += 1;
      const calls = mockFetch(c.hosts ?? {});
      const started = Date.now();
      const res = await Promise.race([
        call(`https://img.example.com${c.path}`, { env: c.env ?? {}, headers: c.headers ?? {} }),
        new Promise<'hang'>((r) => setTimeout(() => r('hang'), 10_000)),
      ]);
      vi.restoreAllMocks();
      vi.spyOn(console, 'warn').mockImplementation(() => {});
      vi.spyOn(console, 'error').mockImplementation(() => {});
      if (res === 'hang') {
        figures.hangs += 1;
        wrong.push(`${c.name}: no answer in 10 s`);
        continue;
      }
      const bytes = new Uint8Array(await res.arrayBuffer());
      let code: string | undefined;
      if (res.status >= 400) {
        const body = ErrorBody.safeParse(JSON.parse(new TextDecoder().decode(bytes)));
        code = body.success ? body.data.error.code : 'no ErrorBody';
        if (code === 'internal') figures.crashes += 1;
      } else {
        code = res.headers.get('x-oftsr-fallback-reason') ?? undefined;
      }
      if (res.status === 200 && bytes.length === 0) figures.lostData += 1;
      const problems: string[] = [];
      if (res.status !== c.status) problems.push(`status ${res.status}`);
      if (c.code !== undefined && code !== c.code) problems.push(`code ${code}`);
      for (const host of c.untouched ?? []) if (calls[host] !== undefined) problems.push(`called ${host}`);
      if (problems.length > 0) wrong.push(`${c.name}: ${problems.join(', ')} (${Date.now() - started} ms)`);
      else if (res.status >= 400) figures.refusedCorrectly += 1;
      else figures.servedCorrectly += 1;
      if (c.name.startsWith('spelling')) etags.add(res.headers.get('etag'));
    }
    // A runner that sends fewer bytes than it declared: nothing partial may be stored.
    figures.tried += 1;
    mockFetch({
      'origin.test': fakeOrigin({ 'cat.png': png }),
      'runner.test': () =>
        new Response(new Uint8Array(10), {
          headers: { 'content-type': 'image/png', 'content-length': '100' },
        }),
    });
    const short = await call(`https://img.example.com/${id}/short/cat.png`);
    const key = (short.headers.get('etag') ?? '').slice(1, -1);
    const stored = key === '' ? null : await env.CACHE_BUCKET.get(r2Key(key));
    if (stored !== null && stored.size !== 100) figures.lostData += 1;
    else figures.refusedCorrectly += 1;

    console.log(JSON.stringify({ corpus: 'edge', ...figures, wrong: wrong.length }));
    expect(wrong).toEqual([]);
    expect(etags.size).toBe(1); // every spelling of one path is one key
    expect(figures).toMatchObject({ crashes: 0, hangs: 0, lostData: 0 });
    expect(figures.refusedCorrectly + figures.servedCorrectly).toBe(figures.tried);
  }, 120_000);
});
