/**
 * The hostile corpus for the runner: inputs built to cost more than they look (decompression bombs,
 * thin and tall strips, lying headers), malformed or unsupported images, bodies that are too big or
 * never finish, and the colour types that once lost data, each with the answer it must get. Used by
 * `src/hostile.test.ts` (CI, against the real runner process) and `scripts/hostile-corpus.ts`
 * (writes the inputs to a folder, or runs them against a runner URL and prints the figures).
 */
import { deflateSync } from 'node:zlib';
import sharp from 'sharp';
import { HEADERS, RUNNER_ROUTES } from '@oftsr/shared';
import { encodePng, patternImage, pngBomb } from './fixtures.ts';

/** What a case must get back. `status` lists the acceptable answers (load may decide among them). */
export interface Expectation {
  status: readonly number[];
  /** `error.code` for error answers. */
  code?: string;
  /** `error.message` (or, with `field`, `error.field`) must match. */
  message?: RegExp;
  field?: string;
  /** For 200: the output size and whether it must carry alpha (nothing lost). */
  output?: { width: number; height: number; alpha: boolean };
}

/** One hostile request. */
export interface HostileCase {
  name: string;
  body: Uint8Array | (() => ReadableStream<Uint8Array>);
  contentType: string;
  headers?: Record<string, string>;
  query?: string;
  expect: Expectation;
  /** Sent together with the other cases of the same group, at once. */
  group?: string;
}

const refused = (status: number, code: string, extra: Partial<Expectation> = {}): Expectation => ({
  status: [status],
  code,
  ...extra,
});

/** The runner settings the corpus expects besides the defaults. */
export const CORPUS_RUNNER_ENV: Readonly<Record<string, string>> = {
  OFTSR_BODY_TIMEOUT_MS: '2000',
  OFTSR_MAX_OUTPUT_MEGAPIXELS: '32',
  OFTSR_MAX_WORK_MB: '3072',
};

/** The deadline every corpus request carries (the edge's RUNNER_TIMEOUT_MS default). */
export const CORPUS_DEADLINE_MS = 30_000;

/** A PNG whose IHDR claims `width`×`height` over a few bytes of data (nothing behind the header). */
function lyingPng(width: number, height: number): Buffer {
  return encodePng({ width, height, colourType: 2, bitDepth: 8, idat: deflateSync(Buffer.alloc(64)) });
}

/** A body that sends its first bytes and then stalls forever (a slow-loris upload). */
function stalledBody(head: Uint8Array): () => ReadableStream<Uint8Array> {
  return () =>
    new ReadableStream<Uint8Array>({
      start(controller) {
        controller.enqueue(head);
      },
    });
}

/**
 * The runner corpus, for a runner with the default limits (4 MP, 8192 px sides, 20 MiB) except
 * {@link CORPUS_RUNNER_ENV}, each request sent with `x-oftsr-deadline-ms: 30000` (the edge's default).
 */
export async function runnerCorpus(): Promise<HostileCase[]> {
  const png = 'image/png';
  const small = await patternImage(24, 16);
  // Two 8×8 frames stacked as pages: an animated image in any format sharp writes.
  const frames = Buffer.alloc(8 * 16 * 4, 200).fill(10, 8 * 8 * 4);
  const animated = (format: 'webp' | 'gif') =>
    sharp(frames, { raw: { width: 8, height: 16, channels: 4, pageHeight: 8 } })
      .toFormat(format)
      .toBuffer();
  const still = async (format: 'gif' | 'tiff') =>
    sharp(await patternImage(8, 8))
      .toFormat(format)
      .toBuffer();
  const [animatedWebp, animatedGif, gif, tiff] = await Promise.all([
    animated('webp'),
    animated('gif'),
    still('gif'),
    still('tiff'),
  ]);
  const ga = Uint8Array.from({ length: 2 * 16 * 16 }, (_, k) => (k % 2 ? (k * 7) % 256 : 128));
  const cases: HostileCase[] = [
    // Decompression bombs and headers that promise too much: refused from the header.
    {
      name: 'bomb: 8000×8000 zero PNG (64 MP, ~60 KB)',
      body: pngBomb(8000, 8000),
      contentType: png,
      expect: refused(422, 'too_large', { field: 'OFTSR_MAX_INPUT_MEGAPIXELS' }),
    },
    {
      name: 'lying header: 100000×100000 with no data',
      body: lyingPng(100_000, 100_000),
      contentType: png,
      expect: refused(422, 'too_large', { field: 'OFTSR_MAX_INPUT_MEGAPIXELS' }),
    },
    {
      name: 'lying header: 100×100 over 64 bytes of pixels',
      body: lyingPng(100, 100),
      contentType: png,
      expect: { status: [422], code: 'bad_image' },
    },
    // Thin and tall strips: few pixels, many tiles.
    // With a 1 s deadline: 16 tiles of 640×60 (the CPU runner's frame-sized tiling) would need under
    // 63 ms each, which no CPU gives (at 10 s, a quiet machine came close enough for the runner's rate
    // estimate to admit it;
    // at the edge's 30 s the answer depends on the measured rate: refused at once, or run to completion).
    {
      name: 'thin: 8192×4 PNG (16 tiles of 640×60), 1 s deadline',
      body: pngBomb(8192, 4),
      contentType: png,
      headers: { [HEADERS.deadlineMs]: '1000' },
      expect: refused(422, 'too_large', { field: HEADERS.deadlineMs, message: /16 tiles of 640²/ }),
    },
    {
      name: 'tall: 4×8192 PNG, 1 s deadline',
      body: pngBomb(4, 8192),
      contentType: png,
      headers: { [HEADERS.deadlineMs]: '1000' },
      expect: refused(422, 'too_large', { field: HEADERS.deadlineMs }),
    },
    {
      name: 'thin: 1×20000 PNG (a side over 8192)',
      body: pngBomb(20000, 1),
      contentType: png,
      expect: refused(422, 'too_large', { field: 'OFTSR_MAX_INPUT_SIDE', message: /^(?!.*MEGAPIXELS)/ }),
    },
    {
      name: 'tall: 1×60000 PNG',
      body: pngBomb(1, 60000),
      contentType: png,
      expect: refused(422, 'too_large', { field: 'OFTSR_MAX_INPUT_SIDE' }),
    },
    {
      name: '4 MP all-zero PNG alone (within every size limit; admitted only if it can finish in 30 s)',
      body: pngBomb(2000, 2000),
      contentType: png,
      expect: { status: [200, 422, 504], output: { width: 8000, height: 8000, alpha: false } },
    },
    {
      name: 'sr=4 output over OFTSR_MAX_OUTPUT_MEGAPIXELS (runner started with 32)',
      body: pngBomb(1500, 1500),
      contentType: png,
      expect: refused(422, 'too_large', { field: 'OFTSR_MAX_OUTPUT_MEGAPIXELS' }),
    },
    // Malformed and unsupported.
    { name: 'empty body', body: new Uint8Array(0), contentType: png, expect: refused(422, 'bad_image') },
    {
      name: 'truncated PNG',
      body: small.subarray(0, Math.floor(small.length / 2)),
      contentType: png,
      expect: refused(422, 'bad_image'),
    },
    {
      name: 'not an image (text as octet-stream)',
      body: new TextEncoder().encode('<html>hello</html>'),
      contentType: 'application/octet-stream',
      expect: refused(422, 'unsupported_format'),
    },
    {
      name: 'still GIF (upscaled like any still image)',
      body: gif,
      contentType: 'image/gif',
      expect: { status: [200], output: { width: 32, height: 32, alpha: true } },
    },
    {
      name: 'animated GIF',
      body: animatedGif,
      contentType: 'image/gif',
      expect: refused(422, 'unsupported_format', { message: /animated/ }),
    },
    {
      name: 'TIFF (not taken by the service)',
      body: tiff,
      contentType: 'application/octet-stream',
      expect: refused(422, 'unsupported_format'),
    },
    {
      name: 'animated WebP',
      body: animatedWebp,
      contentType: 'image/webp',
      expect: refused(422, 'unsupported_format', { message: /animated/ }),
    },
    {
      name: 'APNG, 120 frames',
      body: encodePng({ width: 8, height: 8, colourType: 2, bitDepth: 8, apngFrames: 120 }),
      contentType: png,
      expect: refused(422, 'unsupported_format', { message: /APNG, 120 frames/ }),
    },
    {
      name: 'wrong Content-Type',
      body: small,
      contentType: 'text/plain',
      expect: refused(415, 'unsupported_format', { field: 'content-type' }),
    },
    {
      name: 'PNG bytes labelled JPEG (sniffed, served)',
      body: small,
      contentType: 'image/jpeg',
      expect: { status: [200], output: { width: 96, height: 64, alpha: false } },
    },
    {
      name: 'too many bytes (21 MiB)',
      body: new Uint8Array(21 * 1024 * 1024),
      contentType: png,
      expect: refused(413, 'too_large', { field: 'OFTSR_MAX_INPUT_BYTES' }),
    },
    {
      name: 'bad parameter (t=2)',
      body: small,
      contentType: png,
      query: '?t=2',
      expect: refused(400, 'bad_param', { field: 't' }),
    },
    {
      name: 'bad deadline header',
      body: small,
      contentType: png,
      headers: { [HEADERS.deadlineMs]: '1e9' },
      expect: refused(400, 'bad_param', { field: HEADERS.deadlineMs }),
    },
    {
      name: 'stalled upload (slow loris)',
      body: stalledBody(small.subarray(0, 40)),
      contentType: png,
      expect: refused(408, 'timeout', { field: 'OFTSR_BODY_TIMEOUT_MS' }),
    },
    // Colour types that must come back whole.
    {
      name: '8-bit grey + alpha PNG keeps alpha',
      body: encodePng({ width: 16, height: 16, colourType: 4, bitDepth: 8, samples: ga }),
      contentType: png,
      query: '?format=png',
      expect: { status: [200], output: { width: 64, height: 64, alpha: true } },
    },
    {
      name: '16-bit grey + alpha PNG keeps alpha',
      body: encodePng({
        width: 16,
        height: 16,
        colourType: 4,
        bitDepth: 16,
        samples: Uint8Array.from({ length: 4 * 256 }, (_, k) => (k * 13) % 256),
      }),
      contentType: png,
      query: '?format=png',
      expect: { status: [200], output: { width: 64, height: 64, alpha: true } },
    },
    {
      name: 'palette + tRNS PNG keeps alpha',
      body: encodePng({
        width: 16,
        height: 16,
        colourType: 3,
        bitDepth: 8,
        samples: Uint8Array.from({ length: 256 }, (_, i) => i % 3),
        palette: Uint8Array.from([255, 0, 0, 0, 255, 0, 0, 0, 255]),
        transparency: Uint8Array.from([0, 128]),
      }),
      contentType: png,
      query: '?format=png',
      expect: { status: [200], output: { width: 64, height: 64, alpha: true } },
    },
    {
      name: '1×1 PNG',
      body: await patternImage(1, 1),
      contentType: png,
      expect: { status: [200], output: { width: 4, height: 4, alpha: false } },
    },
  ];
  // Four 4 MP all-zero PNGs at once: refused at once or admitted one by one, never all in memory.
  for (let k = 0; k < 4; k++) {
    cases.push({
      name: `four 4 MP zero PNGs at once (#${k + 1})`,
      body: pngBomb(2000, 2000),
      contentType: png,
      expect: { status: [422, 429, 504] },
      group: 'four-4mp',
    });
  }
  return cases;
}

/** How one case went. */
export interface CaseResult {
  name: string;
  status: number | 'hang' | 'connection error';
  ms: number;
  ok: boolean;
  /** Why it is not ok. */
  problem?: string;
  /** A 200 whose output lost size or alpha. */
  lostData?: boolean;
}

/** The corpus figures. */
export interface CorpusFigures {
  tried: number;
  /** Refusals that came with the expected status, code and message (or field). */
  refusedCorrectly: number;
  /** Successes whose output was whole. */
  servedWhole: number;
  crashes: number;
  hangs: number;
  lostData: number;
  /** Answers that were neither (wrong status, code or message). */
  wrong: number;
}

async function judge(c: HostileCase, res: Response): Promise<Omit<CaseResult, 'name' | 'ms'>> {
  const { expect: want } = c;
  if (!want.status.includes(res.status)) {
    const text = (await res.text()).slice(0, 200);
    return { status: res.status, ok: false, problem: `status ${res.status}: ${text}` };
  }
  if (res.status === 200) {
    const bytes = Buffer.from(await res.arrayBuffer());
    const meta = await sharp(bytes).metadata();
    const out = want.output;
    const lost =
      out !== undefined &&
      (meta.width !== out.width || meta.height !== out.height || (meta.hasAlpha ?? false) !== out.alpha);
    return lost
      ? {
          status: 200,
          ok: false,
          lostData: true,
          problem: `output ${meta.width}×${meta.height} alpha ${meta.hasAlpha}`,
        }
      : { status: 200, ok: true };
  }
  const body = (await res.json().catch(() => undefined)) as
    { error?: { code?: string; message?: string; field?: string } } | undefined;
  const error = body?.error;
  const problems: string[] = [];
  if (error === undefined) problems.push('no ErrorBody');
  if (want.code !== undefined && error?.code !== want.code) problems.push(`code ${error?.code}`);
  if (want.field !== undefined && error?.field !== want.field) problems.push(`field ${error?.field}`);
  if (want.message !== undefined && !want.message.test(error?.message ?? '')) {
    problems.push(`message ${JSON.stringify(error?.message)}`);
  }
  return problems.length === 0
    ? { status: res.status, ok: true }
    : { status: res.status, ok: false, problem: problems.join(', ') };
}

async function send(url: string, token: string, c: HostileCase, hangMs: number): Promise<CaseResult> {
  const started = performance.now();
  const ms = () => Math.round(performance.now() - started);
  const body = typeof c.body === 'function' ? c.body() : c.body;
  try {
    const res = await fetch(`${url}${RUNNER_ROUTES.upscale}${c.query ?? ''}`, {
      method: 'POST',
      body,
      headers: {
        'content-type': c.contentType,
        authorization: `Bearer ${token}`,
        [HEADERS.deadlineMs]: String(CORPUS_DEADLINE_MS),
        ...c.headers,
      },
      signal: AbortSignal.timeout(hangMs),
      ...(typeof c.body === 'function' ? { duplex: 'half' } : {}),
    } as RequestInit);
    return { name: c.name, ms: ms(), ...(await judge(c, res)) };
  } catch (err) {
    const hang = err instanceof Error && err.name === 'TimeoutError';
    return {
      name: c.name,
      ms: ms(),
      status: hang ? 'hang' : 'connection error',
      ok: false,
      problem: String(err),
    };
  }
}

/**
 * Runs the corpus against a runner at `url` (cases of one `group` at once, the rest one by one) and
 * counts: a crash is a runner that stops answering health, a hang an answer later than the deadline
 * plus 15 s, lost data a 200 whose output lost its size or alpha.
 */
export async function runCorpus(
  url: string,
  token: string,
  cases: readonly HostileCase[],
): Promise<{ results: CaseResult[]; figures: CorpusFigures }> {
  const hangMs = CORPUS_DEADLINE_MS + 15_000;
  const results: CaseResult[] = [];
  let crashes = 0;
  const alive = async () =>
    (await fetch(`${url}${RUNNER_ROUTES.live}`).catch(() => undefined))?.status === 200;
  const groups = new Map<string, HostileCase[]>();
  for (const c of cases) {
    if (c.group === undefined) {
      results.push(await send(url, token, c, hangMs));
      if (!(await alive())) crashes += 1;
    } else groups.set(c.group, [...(groups.get(c.group) ?? []), c]);
  }
  for (const group of groups.values()) {
    results.push(...(await Promise.all(group.map((c) => send(url, token, c, hangMs)))));
    if (!(await alive())) crashes += 1;
  }
  const ok = results.filter((r) => r.ok);
  const figures: CorpusFigures = {
    tried: results.length,
    refusedCorrectly: ok.filter((r) => r.status !== 200).length,
    servedWhole: ok.filter((r) => r.status === 200).length,
    crashes,
    hangs: results.filter((r) => r.status === 'hang').length,
    lostData: results.filter((r) => r.lostData === true).length,
    wrong: results.filter((r) => !r.ok && r.status !== 'hang' && r.lostData !== true).length,
  };
  return { results, figures };
}
