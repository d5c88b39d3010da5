// The whole pipeline with real processes (issue #7): the stack `npm start` runs (scripts/stack.ts),
// brought up by the test on free loopback ports. URL → edge miss → runner → R2 → response; the same
// URL again → hit, identical bytes, no runner call; runner killed → fallback with the original image;
// runner back → the next miss succeeds; a catalogue pre-warm job through the runner's S3 (moto) gives
// the edge's bytes; and the SDK in Chromium with WebGPU off takes the cloud path (sdk.ts).
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import type * as S3 from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LOCAL_BUCKET, MODEL_VERSION, ROOT, RUNNER_TOKEN } from '@oftsr/devkit';
import { startStack, type Stack } from '../scripts/stack.ts';
import { sdkUnavailable, upscaleInChromium } from './sdk.ts';

const SAMPLE = 'landscape-192x128.png';
const ORIGINAL = readFileSync(join(ROOT, 'samples', SAMPLE));
const skip = process.env.OFTSR_SKIP_E2E === '1';
if (skip) console.warn('e2e skipped: OFTSR_SKIP_E2E=1');

/** Width and height from a PNG's IHDR chunk. */
function pngSize(bytes: Uint8Array): { width: number; height: number } {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  expect(Buffer.from(bytes.subarray(1, 4)).toString()).toBe('PNG');
  return { width: view.getUint32(16), height: view.getUint32(20) };
}

async function get(url: string): Promise<{ res: Response; bytes: Buffer }> {
  const res = await fetch(url, { signal: AbortSignal.timeout(120_000) });
  return { res, bytes: Buffer.from(await res.arrayBuffer()) };
}

/** Reads an object back from moto with a signed request (anonymous GETs are refused), using the
 * runner workspace's S3 client (the e2e suite has no dependencies of its own). */
async function s3Get(endpoint: string, bucket: string, key: string): Promise<Buffer> {
  const require = createRequire(join(ROOT, 'apps/gpu-runner/package.json'));
  const s3 = (await import(require.resolve('@aws-sdk/client-s3'))) as typeof S3;
  const client = new s3.S3Client({
    endpoint,
    region: 'us-east-1',
    forcePathStyle: true,
    credentials: { accessKeyId: 'test', secretAccessKey: 'test' },
  });
  try {
    const out = await client.send(new s3.GetObjectCommand({ Bucket: bucket, Key: key }));
    return Buffer.from((await out.Body?.transformToByteArray()) ?? []);
  } finally {
    client.destroy();
  }
}

/** How many `POST /v1/upscale` the runner has answered (its own Prometheus counter). */
async function runnerUpscaleCalls(runnerUrl: string): Promise<number> {
  const text = await (await fetch(`${runnerUrl}/metrics`)).text();
  return text
    .split('\n')
    .filter((l) => l.startsWith('oftsr_http_requests_total{') && l.includes('route="/v1/upscale"'))
    .reduce((sum, l) => sum + Number(l.split(' ').at(-1)), 0);
}

describe.skipIf(skip)('the whole stack: edge (wrangler dev) → runner (CPU) → R2, S3 on moto', () => {
  let stack: Stack | undefined;
  const url = (path: string): string => `${stack?.edge.url}/${path}`;
  const logs = (): string => `edge:\n${stack?.edge.log()}\nrunner:\n${stack?.runner?.log() ?? '(stopped)'}`;

  beforeAll(async () => {
    stack = await startStack({ runnerEnv: { OFTSR_THREADS: '1' } });
  }, 300_000);

  afterAll(async () => {
    await stack?.stop();
    for (const p of stack?.processes() ?? []) expect(p.exitCode !== null || p.signalCode !== null).toBe(true);
  }, 60_000);

  it('URL → edge miss → runner → R2 → response, then a hit: identical bytes, no runner call', async () => {
    const runnerUrl = stack!.runner!.url;
    const callsBefore = await runnerUpscaleCalls(runnerUrl);
    const first = await get(url(`${SAMPLE}?sr=4&t=0.7`));
    expect(first.res.status, logs()).toBe(200);
    expect(first.res.headers.get('x-oftsr-cache')).toBe('miss');
    expect(first.res.headers.get('x-model-version')).toBe(MODEL_VERSION);
    expect(first.res.headers.get('x-execution-provider')).toBe('cpu');
    expect(first.res.headers.get('content-type')).toBe('image/png');
    expect(pngSize(first.bytes)).toEqual({ width: 768, height: 512 });
    expect(await runnerUpscaleCalls(runnerUrl)).toBe(callsBefore + 1);
    const originHits = stack!.origin.hits();

    // The miss only writes R2 (in waitUntil); the first hit therefore comes from R2.
    const second = await get(url(`${SAMPLE}?sr=4&t=0.7`));
    expect(second.res.status).toBe(200);
    expect(second.res.headers.get('x-oftsr-cache')).toBe('hit');
    expect(second.res.headers.get('x-oftsr-cache-tier')).toBe('r2');
    expect(second.res.headers.get('etag')).toBe(first.res.headers.get('etag'));
    expect(second.bytes.equals(first.bytes)).toBe(true);
    const third = await get(url(`${SAMPLE}?sr=4&t=0.7`));
    expect(third.bytes.equals(first.bytes)).toBe(true);
    expect(await runnerUpscaleCalls(runnerUrl)).toBe(callsBefore + 1);
    expect(stack!.origin.hits()).toBe(originHits);
  });

  it('the runner directly gives the same bytes as the edge served (one contract, one model)', async () => {
    const res = await fetch(`${stack!.runner!.url}/v1/upscale?sr=4&t=0.7&format=png`, {
      method: 'POST',
      body: ORIGINAL,
      headers: { authorization: `Bearer ${RUNNER_TOKEN}`, 'content-type': 'image/png' },
    });
    expect(res.status).toBe(200);
    const direct = Buffer.from(await res.arrayBuffer());
    const viaEdge = await get(url(`${SAMPLE}?sr=4&t=0.7`));
    expect(direct.equals(viaEdge.bytes)).toBe(true);
  });

  it('a catalogue pre-warm job (runner → S3) writes the bytes the edge serves', async () => {
    const moto = stack!.moto!;
    // moto checks no signatures on writes: an unsigned PUT uploads the catalogue's source.
    const put = await fetch(`${moto.endpoint}/${LOCAL_BUCKET}/catalogue/${SAMPLE}`, {
      method: 'PUT',
      body: ORIGINAL,
    });
    expect(put.status).toBe(200);
    const auth = { authorization: `Bearer ${RUNNER_TOKEN}`, 'content-type': 'application/json' };
    const runnerUrl = stack!.runner!.url;
    const submitted = await fetch(`${runnerUrl}/v1/jobs`, {
      method: 'POST',
      headers: auth,
      body: JSON.stringify({
        source: `catalogue/${SAMPLE}`,
        destination: 'prewarmed/landscape-x4.png',
        params: { sr: 4, t: 0.7, format: 'png' },
      }),
    });
    expect(submitted.status, await submitted.clone().text()).toBe(202);
    const location = submitted.headers.get('location') ?? '';
    let job: { state: string; error?: unknown } = { state: 'queued' };
    for (let i = 0; i < 240 && (job.state === 'queued' || job.state === 'running'); i++) {
      await new Promise((r) => setTimeout(r, 500));
      job = (await (await fetch(new URL(location, runnerUrl), { headers: auth })).json()) as typeof job;
    }
    expect(job.state, JSON.stringify(job)).toBe('succeeded');
    const stored = await s3Get(moto.endpoint, LOCAL_BUCKET, 'prewarmed/landscape-x4.png');
    expect(stored.length).toBeGreaterThan(0);
    const served = await get(url(`${SAMPLE}?sr=4&t=0.7`));
    expect(stored.equals(served.bytes)).toBe(true);
  });

  it('runner killed → fallback header and the original image; cached URLs keep working', async () => {
    await stack!.stopRunner('SIGKILL');
    const { res, bytes } = await get(url(`${SAMPLE}?sr=4&t=0.2`));
    expect(res.status, logs()).toBe(200);
    expect(res.headers.get('x-oftsr-cache')).toBe('fallback');
    expect(res.headers.get('x-oftsr-fallback-reason')).toBeTruthy();
    expect(res.headers.get('cache-control')).toMatch(/max-age=60/);
    expect(bytes.equals(ORIGINAL)).toBe(true);
    const hit = await get(url(`${SAMPLE}?sr=4&t=0.7`));
    expect(hit.res.headers.get('x-oftsr-cache')).toBe('hit');
  });

  it('runner back → the next miss (the URL that just fell back) succeeds', async () => {
    await stack!.restartRunner();
    const { res, bytes } = await get(url(`${SAMPLE}?sr=4&t=0.2`));
    expect(res.status, logs()).toBe(200);
    expect(res.headers.get('x-oftsr-cache')).toBe('miss');
    expect(pngSize(bytes)).toEqual({ width: 768, height: 512 });
    const again = await get(url(`${SAMPLE}?sr=4&t=0.2`));
    expect(again.res.headers.get('x-oftsr-cache')).toBe('hit');
    expect(again.bytes.equals(bytes)).toBe(true);
  });

  const sdkMissing = sdkUnavailable();
  if (sdkMissing !== undefined) console.warn(`e2e: SDK test skipped: ${sdkMissing}`);
  it.skipIf(sdkMissing !== undefined)(
    'SDK in Chromium, WebGPU off, page on another origin → cloud path through the edge (CORS) = the runner directly',
    async () => {
      const t = 0.6;
      const runnerRes = await fetch(`${stack!.runner!.url}/v1/upscale?sr=4&t=${t}&format=png`, {
        method: 'POST',
        body: ORIGINAL,
        headers: { authorization: `Bearer ${RUNNER_TOKEN}`, 'content-type': 'image/png' },
      });
      expect(runnerRes.status).toBe(200);
      const direct = new Uint8Array(await runnerRes.arrayBuffer());
      const result = await upscaleInChromium({
        edgeUrl: stack!.edge.url,
        sample: SAMPLE,
        original: new Uint8Array(ORIGINAL),
        t,
        reference: direct,
      });
      expect(result.webgpu).toBe(false);
      expect(result.ranOn, result.reason).toBe('cloud');
      // Cross-origin for real: the page is not on the edge's origin, and the browser let it read
      // the edge's answer because the edge allowed it.
      expect(result.pageOrigin).not.toBe(new URL(stack!.edge.url).origin);
      expect(result.edgeAnswers).toEqual([{ status: 200, allowOrigin: '*' }]);
      expect([result.width, result.height]).toEqual([768, 512]);
      expect([result.refWidth, result.refHeight]).toEqual([768, 512]);
      // Both PNGs decoded by the same browser without colour conversion; the runner is deterministic,
      // so any difference beyond a level or two would mean different parameters or a different model.
      expect(result.maxAbsDiff).toBeLessThanOrEqual(2);
      expect(result.meanAbsDiff).toBeLessThan(0.5);
    },
  );
});
