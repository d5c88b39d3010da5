import { execFile } from 'node:child_process';
import { cpSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { prewarm, type PrewarmOutcome } from '../scripts/prewarm.ts';
import { sniffImage } from '../src/image-size.ts';
import {
  cleanup,
  CPU_RUNNER_ENV,
  freePort,
  MODEL_VERSION,
  ROOT,
  RUNNER_ENTRY,
  startOrigin,
  startRunnerAndEdge,
  stop,
  type Edge,
  type Runner,
} from '@oftsr/devkit';

const runnerPresent = existsSync(RUNNER_ENTRY);
const skip = !runnerPresent || process.env.OFTSR_SKIP_E2E === '1';
if (skip) {
  console.warn(
    runnerPresent
      ? 'edge e2e skipped: OFTSR_SKIP_E2E=1'
      : `edge e2e skipped: ${RUNNER_ENTRY} does not exist (the runner service, issue #4)`,
  );
}

const PREWARM = join(ROOT, 'apps/edge/scripts/prewarm.ts');
/** The edge's operator token (PURGE_TOKEN) in these tests: it guards the prewarm route. */
const OPERATOR_TOKEN = 'e2e-operator-token-0123456789';

/**
 * `npm run prewarm -- …` as an operator runs it, with --json: the exit code and the outcomes.
 * Asynchronous on purpose: the origin server lives in this process and must keep answering.
 */
function prewarmCli(
  args: string[],
): Promise<{ code: number | null; outcomes: PrewarmOutcome[]; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [PREWARM, ...args, '--json'], { timeout: 110_000 }, (err, stdout, stderr) => {
      const code = err === null ? 0 : typeof err.code === 'number' ? err.code : null;
      const parsed =
        stdout.trim() === '' ? { outcomes: [] } : (JSON.parse(stdout) as { outcomes: PrewarmOutcome[] });
      resolve({ code, outcomes: parsed.outcomes, stderr });
    });
  });
}

async function get(url: string, accept = '*/*'): Promise<{ res: Response; bytes: Uint8Array }> {
  const res = await fetch(url, { headers: { accept } });
  return { res, bytes: new Uint8Array(await res.arrayBuffer()) };
}

describe.skipIf(skip)('end to end: wrangler dev + the real runner (CPU) + a local origin', () => {
  let origin: Awaited<ReturnType<typeof startOrigin>> | undefined;
  let runner: Runner | undefined;
  let edge: Edge | undefined;
  let originDir: string | undefined;

  beforeAll(async () => {
    // The samples, plus a 200×100 source for the CDN sizing case.
    originDir = mkdtempSync(join(tmpdir(), 'oftsr-edge-e2e-origin-'));
    cpSync(join(ROOT, 'samples'), originDir, { recursive: true });
    await sharp(join(ROOT, 'samples/landscape-192x128.png'))
      .resize(200, 100, { fit: 'fill' })
      .png()
      .toFile(join(originDir, 'wide-200x100.png'));
    origin = await startOrigin(originDir);
    ({ runner, edge } = await startRunnerAndEdge({
      runner: { env: CPU_RUNNER_ENV },
      edge: { originUrl: origin.url, vars: { PURGE_TOKEN: OPERATOR_TOKEN, WORK_RETRY_BASE_S: '0' } },
    }));
  }, 240_000);

  afterAll(async () => {
    await Promise.all([stop(edge?.proc), stop(runner?.proc)]);
    origin?.server.close();
    cleanup(edge?.persistDir);
    if (originDir !== undefined) rmSync(originDir, { recursive: true, force: true });
  }, 30_000);

  it('the same URL twice: miss, then hit, with identical bytes', async () => {
    const url = `${edge?.url}/landscape-192x128.png?sr=4&t=0.7`;
    const first = await get(url);
    expect(first.res.status, edge?.log()).toBe(200);
    expect(first.res.headers.get('x-oftsr-cache')).toBe('miss');
    expect(first.res.headers.get('x-model-version')).toBe(MODEL_VERSION);
    expect(first.res.headers.get('x-execution-provider')).toBe('cpu');
    expect(first.res.headers.get('content-type')).toBe('image/png');
    expect(sniffImage(first.bytes)).toEqual({ status: 'ok', format: 'png', width: 768, height: 512 });

    const second = await get(url);
    expect(second.res.status).toBe(200);
    expect(second.res.headers.get('x-oftsr-cache')).toBe('hit');
    expect(second.res.headers.get('etag')).toBe(first.res.headers.get('etag'));
    expect(Buffer.from(second.bytes).equals(Buffer.from(first.bytes))).toBe(true);
    expect(origin?.hits()).toBe(1);
  }, 120_000);

  it('?width=800 on a 200-px-wide source is 800 px wide; ?width=400&dpr=2 is the same cached image', async () => {
    const first = await get(`${edge?.url}/wide-200x100.png?width=800`);
    expect(first.res.status, edge?.log()).toBe(200);
    expect(sniffImage(first.bytes)).toEqual({ status: 'ok', format: 'png', width: 800, height: 400 });
    const same = await get(`${edge?.url}/wide-200x100.png?width=400&dpr=2`);
    expect(same.res.headers.get('x-oftsr-cache')).toBe('hit');
    expect(Buffer.from(same.bytes).equals(Buffer.from(first.bytes))).toBe(true);
    const cover = await get(`${edge?.url}/wide-200x100.png?width=300&height=300&fit=cover`);
    expect(sniffImage(cover.bytes)).toEqual({ status: 'ok', format: 'png', width: 300, height: 300 });
  }, 120_000);

  it('Accept: image/webp gets WebP from the runner (sr=2: 384x256)', async () => {
    const { res, bytes } = await get(`${edge?.url}/badge-128x128.png?sr=2&t=0.3`, 'image/webp,*/*');
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('image/webp');
    expect(res.headers.get('vary')).toBe('Accept');
    expect(sniffImage(bytes)).toMatchObject({ status: 'ok', format: 'webp', width: 256, height: 256 });
  }, 120_000);

  it('prewarm (CLI): a catalogue is warmed through the work queue, a second run is all hits, a missing image fails fast', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'oftsr-prewarm-'));
    try {
      const list = join(dir, 'catalogue.txt');
      writeFileSync(
        list,
        '# the product images\nlandscape-192x128.png\n/badge-128x128.png\n\nmissing.png  # gone\n',
      );
      const args = [
        '--edge',
        edge!.url,
        '--token',
        OPERATOR_TOKEN,
        '--list',
        list,
        '--variant',
        'sr=4&t=0.45',
        '--variant',
        'preset=thumb',
      ];
      const first = await prewarmCli([...args, '--format', 'webp', '--format', 'png']);
      expect(first.code, first.stderr + edge?.log()).toBe(1);
      const byState = (outcomes: PrewarmOutcome[], state: string) =>
        outcomes.filter((o) => o.state === state);
      expect(first.outcomes).toHaveLength(12);
      expect(byState(first.outcomes, 'warmed')).toHaveLength(8);
      const missing = byState(first.outcomes, 'failed');
      expect(missing.map((o) => [o.entry.path, o.status, o.attempts])).toEqual(
        Array.from({ length: 4 }, () => ['/missing.png', 404, 1]),
      );
      expect(
        new Set(byState(first.outcomes, 'warmed').map((o) => (o.state === 'failed' ? '' : o.contentType))),
      ).toEqual(new Set(['image/webp', 'image/png']));

      const again = await prewarmCli([...args, '--format', 'webp', '--format', 'png']);
      expect(byState(again.outcomes, 'hit')).toHaveLength(8);
      // What a visitor then gets: a hit, without the runner.
      const visit = await get(`${edge?.url}/badge-128x128.png?preset=thumb`, 'image/webp,image/*,*/*;q=0.8');
      expect(visit.res.headers.get('x-oftsr-cache')).toBe('hit');
      expect(visit.res.headers.get('content-type')).toBe('image/webp');
      // The queue's consumer stored it with the same metadata key the edge reads (one wire).
      expect(visit.res.headers.get('x-model-version')).toBe(MODEL_VERSION);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 120_000);

  it('with the runner stopped, a new URL falls back to the original image', async () => {
    await stop(runner?.proc);
    const { res, bytes } = await get(`${edge?.url}/landscape-192x128.png?sr=4&t=0.2`);
    expect(res.status).toBe(200);
    expect(res.headers.get('x-oftsr-cache')).toBe('fallback');
    expect(Buffer.from(bytes).equals(readFileSync(join(ROOT, 'samples/landscape-192x128.png')))).toBe(true);
    // Cached outputs keep being served without the runner.
    const hit = await get(`${edge?.url}/landscape-192x128.png?sr=4&t=0.7`);
    expect(hit.res.headers.get('x-oftsr-cache')).toBe('hit');
  }, 120_000);

  it('prewarm with the runner down: the queued work is retried, then dead-lettered and reported as failed', async () => {
    const [outcome] = await prewarm({
      edge: edge!.url,
      entries: [{ path: '/landscape-192x128.png', variant: 'sr=4&t=0.15', accept: 'image/png' }],
      retries: 2,
      backoffMs: 10,
      pollMs: 100,
      token: OPERATOR_TOKEN,
    });
    expect(outcome, edge?.log()).toMatchObject({ state: 'failed', status: 202, attempts: 1 });
    expect(outcome?.state === 'failed' && outcome.reason).toMatch(/dead-letter/);
  }, 120_000);
});

/**
 * An origin with one replaceable image that answers conditional requests as a real server does
 * (strong ETag, 304 on If-None-Match), counting what it was asked.
 */
async function startMutableOrigin(): Promise<{
  url: string;
  server: Server;
  replace: (name: string) => void;
  requests: { conditional: boolean; status: number }[];
}> {
  let version = { bytes: readFileSync(join(ROOT, 'samples/landscape-192x128.png')), tag: '"v1"' };
  let n = 1;
  const requests: { conditional: boolean; status: number }[] = [];
  const server = createServer((req, res) => {
    const inm = req.headers['if-none-match'];
    const status = inm === version.tag ? 304 : 200;
    requests.push({ conditional: inm !== undefined, status });
    res.writeHead(status, { etag: version.tag, 'content-type': 'image/png' });
    res.end(status === 304 ? undefined : version.bytes);
  });
  const port = await freePort();
  await new Promise<void>((r) => server.listen(port, '127.0.0.1', r));
  return {
    url: `http://127.0.0.1:${port}/`,
    server,
    replace: (name) => {
      n += 1;
      version = { bytes: readFileSync(join(ROOT, 'samples', name)), tag: `"v${n}"` };
    },
    requests,
  };
}

describe.skipIf(skip)('source freshness under wrangler dev (real runner)', () => {
  const TTL_S = 3;
  const PURGE_TOKEN = 'e2e-purge-token-0123456789';
  let origin: Awaited<ReturnType<typeof startMutableOrigin>> | undefined;
  let runner: Runner | undefined;
  let edge: Edge | undefined;

  beforeAll(async () => {
    origin = await startMutableOrigin();
    ({ runner, edge } = await startRunnerAndEdge({
      runner: { env: CPU_RUNNER_ENV },
      edge: { originUrl: origin.url, vars: { SOURCE_TTL_S: String(TTL_S), PURGE_TOKEN } },
    }));
  }, 240_000);

  afterAll(async () => {
    await Promise.all([stop(edge?.proc), stop(runner?.proc)]);
    origin?.server.close();
    cleanup(edge?.persistDir);
  }, 30_000);

  const wait = (ms: number) => new Promise((r) => setTimeout(r, ms));

  it('a 304 keeps the key without a runner call; a replaced source is served after the TTL; purge works', async () => {
    const url = `${edge?.url}/photo.png?sr=4&t=0.5`;
    const first = await get(url);
    expect(first.res.status, edge?.log()).toBe(200);
    expect(first.res.headers.get('x-oftsr-cache')).toBe('miss');
    expect(sniffImage(first.bytes)).toMatchObject({ width: 768, height: 512 });

    // After the TTL, one conditional request; the origin answers 304: same key, a hit, no runner.
    await wait(TTL_S * 1000 + 300);
    const revalidated = await get(url);
    expect(revalidated.res.headers.get('x-oftsr-cache')).toBe('hit');
    expect(revalidated.res.headers.get('etag')).toBe(first.res.headers.get('etag'));
    expect(origin?.requests.at(-1)).toEqual({ conditional: true, status: 304 });

    // Replaced at the origin: inside the TTL the known version is served (no origin request) …
    origin?.replace('badge-128x128.png');
    const seen = origin?.requests.length;
    const within = await get(url);
    expect(within.res.headers.get('etag')).toBe(first.res.headers.get('etag'));
    expect(origin?.requests.length).toBe(seen);
    // … and a purge drops the record at once: the next request fetches and upscales the new image.
    const purged = await fetch(`${edge?.url}/_oftsr/purge?path=/photo.png`, {
      method: 'POST',
      headers: { authorization: `Bearer ${PURGE_TOKEN}` },
    });
    expect(purged.status).toBe(200);
    const second = await get(url);
    expect(second.res.headers.get('x-oftsr-cache')).toBe('miss');
    expect(sniffImage(second.bytes)).toMatchObject({ width: 512, height: 512 });

    // Replaced again, no purge: after the TTL the new version is served.
    origin?.replace('landscape-192x128.png');
    await wait(TTL_S * 1000 + 300);
    const third = await get(url);
    expect(third.res.headers.get('x-oftsr-cache')).toBe('miss');
    expect(third.res.headers.get('etag')).not.toBe(second.res.headers.get('etag'));
    expect(sniffImage(third.bytes)).toMatchObject({ width: 768, height: 512 });
    expect(origin?.requests.at(-1)).toEqual({ conditional: true, status: 200 });
  }, 120_000);
});
