/**
 * The app end to end through `app.request()`: the real model on onnxruntime-node (CPU), real sharp,
 * and a real S3-compatible server (moto on loopback) for jobs.
 */
import { GetObjectCommand, HeadObjectCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ErrorBody, HEADERS } from '@oftsr/shared';
import { signRequest } from './request-signing.ts';
import type { Job } from '../jobs/job-service.ts';
import type { Runtime } from '../runtime.ts';
import { encodePng, patternImage, pngBomb } from '../testing/fixtures.ts';
import { startMoto } from '../testing/moto.ts';
import type { MotoServer } from '../testing/moto.ts';
import { freePort, waitFor } from '@oftsr/devkit';
import { TEST_HMAC_SECRET, TEST_TOKEN, startRuntime } from '../testing/runtime.ts';

const BUCKET = 'oftsr-app-test';
const AUTH = { authorization: `Bearer ${TEST_TOKEN}` };

let moto: MotoServer;
let rt: Runtime;

beforeAll(async () => {
  moto = await startMoto([BUCKET]);
  rt = await startRuntime({
    ...moto.env,
    OFTSR_S3_BUCKET: BUCKET,
    OFTSR_MAX_QUEUE: '2',
    OFTSR_MAX_INPUT_BYTES: String(300 * 1024),
    OFTSR_MAX_INPUT_MEGAPIXELS: '0.25',
    OFTSR_MAX_INPUT_SIDE: '2048',
    OFTSR_MAX_OUTPUT_MEGAPIXELS: '2',
    OFTSR_BODY_TIMEOUT_MS: '1500',
  });
}, 120_000);

afterAll(async () => {
  await rt?.close();
  await moto?.stop();
});

async function upscale(
  body: Uint8Array | string,
  query = '',
  headers: Record<string, string> = {},
): Promise<Response> {
  return rt.app.request(`http://runner/v1/upscale${query}`, {
    method: 'POST',
    body,
    headers: { 'content-type': 'image/png', ...AUTH, ...headers },
  });
}

async function errorOf(res: Response): Promise<ErrorBody['error']> {
  const body = ErrorBody.parse(await res.json());
  return body.error;
}

describe('health and metadata (open, KServe v2)', () => {
  it('live, ready, server and model metadata', async () => {
    expect((await rt.app.request('/v2/health/live')).status).toBe(200);
    const ready = await rt.app.request('/v2/health/ready');
    expect(ready.status).toBe(200);
    expect(await ready.json()).toMatchObject({ ready: true, provider: 'cpu' });
    expect((await rt.app.request('/v2/models/oftsr/ready')).status).toBe(200);
    expect(await (await rt.app.request('/v2')).json()).toMatchObject({ name: 'oftsr-gpu-runner' });
    const meta = (await (await rt.app.request('/v2/models/oftsr')).json()) as Record<string, unknown>;
    expect(meta).toMatchObject({
      name: 'oftsr',
      platform: 'onnxruntime_onnx',
      inputs: [
        { name: 'lr', datatype: 'FP32', shape: [-1, 3, -1, -1] },
        { name: 'noise', datatype: 'FP32', shape: [-1, 3, -1, -1] },
        { name: 't', datatype: 'FP32', shape: [-1] },
      ],
      outputs: [{ name: 'sr', datatype: 'FP32', shape: [-1, 3, -1, -1] }],
      parameters: { execution_provider: 'cpu', scale: 4, tile_sizes: [32, 64, 128] },
    });
    expect((meta.versions as string[])[0]).toBe(rt.upscaler.model?.manifest.version);
    expect((await rt.app.request('/nowhere')).status).toBe(404);
  });
});

describe('POST /v1/upscale', () => {
  it('upscales a PNG ×4 with model, provider and timing headers', async () => {
    const res = await upscale(await patternImage(24, 16), '?t=0.7&seed=3');
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('image/png');
    expect(res.headers.get('x-model-version')).toBe(rt.upscaler.model?.manifest.version);
    expect(res.headers.get('x-execution-provider')).toBe('cpu');
    expect(res.headers.get('server-timing')).toMatch(
      /decode;dur=[\d.]+, infer;dur=[\d.]+, encode;dur=[\d.]+/,
    );
    const meta = await sharp(Buffer.from(await res.arrayBuffer())).metadata();
    expect([meta.width, meta.height, meta.format]).toEqual([96, 64, 'png']);
  });

  it('keeps alpha, and takes JPEG, WebP and AVIF (format auto keeps the source format)', async () => {
    const rgba = await upscale(await patternImage(16, 16, 'png', 4));
    expect((await sharp(Buffer.from(await rgba.arrayBuffer())).metadata()).channels).toBe(4);
    for (const [format, type, sharpName] of [
      ['jpeg', 'image/jpeg', 'jpeg'],
      ['webp', 'image/webp', 'webp'],
      ['avif', 'image/avif', 'heif'],
    ] as const) {
      const res = await upscale(await patternImage(16, 12, format), '', { 'content-type': type });
      expect(res.status, format).toBe(200);
      expect(res.headers.get('content-type')).toBe(type);
      const meta = await sharp(Buffer.from(await res.arrayBuffer())).metadata();
      expect([meta.width, meta.height, meta.format]).toEqual([64, 48, sharpName]);
    }
  });

  it('applies EXIF orientation, and sr=2 / format from headers', async () => {
    const jpeg = await sharp(await patternImage(20, 12, 'jpeg'))
      .withMetadata({ orientation: 6 })
      .jpeg()
      .toBuffer();
    const res = await upscale(jpeg, '', {
      'content-type': 'image/jpeg',
      'x-oftsr-sr': '2',
      'x-oftsr-format': 'webp',
    });
    expect(res.status).toBe(200);
    const meta = await sharp(Buffer.from(await res.arrayBuffer())).metadata();
    expect([meta.width, meta.height, meta.format]).toEqual([24, 40, 'webp']);
  });

  it('takes a static GIF (image/gif) and writes PNG', async () => {
    const gif = await sharp(await patternImage(16, 12))
      .gif()
      .toBuffer();
    const res = await upscale(gif, '', { 'content-type': 'image/gif' });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('image/png');
    const meta = await sharp(Buffer.from(await res.arrayBuffer())).metadata();
    expect([meta.width, meta.height]).toEqual([64, 48]);
  });

  it('sizes to width/height/dpr/fit from the source (one resize of the ×4)', async () => {
    const png = await patternImage(20, 10);
    for (const [query, size] of [
      ['?width=80', [80, 40]],
      ['?width=30&dpr=2', [60, 30]],
      ['?width=60&height=20&fit=contain', [40, 20]],
      ['?width=60&height=20&fit=cover', [60, 20]],
      ['?width=500', [80, 40]],
    ] as const) {
      const res = await upscale(png, query);
      expect(res.status, query).toBe(200);
      const meta = await sharp(Buffer.from(await res.arrayBuffer())).metadata();
      expect([meta.width, meta.height], query).toEqual(size);
      expect(res.headers.get('x-oftsr-width')).toBe(String(size[0]));
    }
    const refused = await upscale(png, '?width=500&fit=contain');
    expect(refused.status).toBe(400);
    expect(((await refused.json()) as { error: { field: string } }).error.field).toBe('width');
  });

  it('a 1×1 image works (padded to the smallest tile)', async () => {
    const res = await upscale(await patternImage(1, 1));
    expect(res.status).toBe(200);
    const meta = await sharp(Buffer.from(await res.arrayBuffer())).metadata();
    expect([meta.width, meta.height]).toEqual([4, 4]);
  });

  it('refuses bad input with the right status and a JSON error', async () => {
    const png = await patternImage(32, 32);
    const cases: [string, () => Promise<Response>, number, string, RegExp][] = [
      ['zero-byte body', () => upscale(new Uint8Array(0)), 422, 'bad_image', /empty/],
      [
        'truncated file',
        () => upscale(png.subarray(0, Math.floor(png.length / 2))),
        422,
        'bad_image',
        /input/,
      ],
      [
        'wrong content type',
        () => upscale(png, '', { 'content-type': 'text/plain' }),
        415,
        'unsupported_format',
        /Content-Type/,
      ],
      [
        'not an image',
        () => upscale('hello, world', '', { 'content-type': 'application/octet-stream' }),
        422,
        'unsupported_format',
        /not a supported image/,
      ],
      [
        'decompression bomb',
        () => upscale(pngBomb(8000, 8000)),
        422,
        'too_large',
        /OFTSR_MAX_INPUT_MEGAPIXELS/,
      ],
      [
        'huge dimensions',
        () => upscale(pngBomb(60000, 1)),
        422,
        'too_large',
        /60000×1 has a side over 2048 px \(OFTSR_MAX_INPUT_SIDE\)/,
      ],
      [
        'too many bytes',
        () => upscale(new Uint8Array(400 * 1024)),
        413,
        'too_large',
        /OFTSR_MAX_INPUT_BYTES/,
      ],
      ['bad parameter', () => upscale(png, '?t=2'), 400, 'bad_param', /t must be a number in \[0, 1\]/],
      [
        'params in query and headers',
        () => upscale(png, '?t=0.5', { 'x-oftsr-seed': '1' }),
        400,
        'bad_param',
        /not both/,
      ],
      [
        'bad deadline',
        () => upscale(png, '', { 'x-oftsr-deadline-ms': 'soon' }),
        400,
        'bad_param',
        /x-oftsr-deadline-ms/,
      ],
    ];
    for (const [name, send, status, code, message] of cases) {
      const res = await send();
      expect(res.status, name).toBe(status);
      const error = await errorOf(res);
      expect(error.code, name).toBe(code);
      expect(error.message, name).toMatch(message);
    }
    const bytes = await errorOf(await upscale(new Uint8Array(400 * 1024)));
    expect(bytes).toMatchObject({ field: 'OFTSR_MAX_INPUT_BYTES', allowed: `at most ${300 * 1024} bytes` });
  });

  it('each limit error names its own setting', async () => {
    const side = await errorOf(await upscale(pngBomb(60000, 1)));
    expect(side.field).toBe('OFTSR_MAX_INPUT_SIDE');
    expect(side.message).not.toMatch(/MEGAPIXELS/);
    const pixels = await errorOf(await upscale(pngBomb(1000, 1000)));
    expect(pixels.field).toBe('OFTSR_MAX_INPUT_MEGAPIXELS');
    // 500×500 is within the 0.25 MP input limit, but ×4 it is 4 MP of output.
    const output = await upscale(pngBomb(500, 500));
    expect(output.status).toBe(422);
    expect(await errorOf(output)).toMatchObject({ code: 'too_large', field: 'OFTSR_MAX_OUTPUT_MEGAPIXELS' });
  });

  it('a thin strip that cannot finish within its deadline is refused at once, naming the deadline', async () => {
    // 2048×4 has few pixels but pads to 125 tiles of 128²: several seconds of work on a CPU, far more
    // than 1 s even at the optimistic end of the runner's rate estimate on a quiet machine.
    const started = performance.now();
    const res = await upscale(pngBomb(2048, 4), '', { 'x-oftsr-deadline-ms': '1000' });
    expect(performance.now() - started).toBeLessThan(1000);
    expect(res.status).toBe(422);
    const error = await errorOf(res);
    expect(error).toMatchObject({ code: 'too_large', field: 'x-oftsr-deadline-ms' });
    expect(error.message).toMatch(/2048×4 runs 125 tiles of 128²/);
  });

  it('a stalled upload holds no queue slot and times out with 408', async () => {
    const stalled = () =>
      rt.app.request('http://runner/v1/upscale', {
        method: 'POST',
        body: new ReadableStream<Uint8Array>({
          start(controller) {
            controller.enqueue(new Uint8Array(pngBomb(8, 8).subarray(0, 20)));
          },
        }),
        headers: { 'content-type': 'image/png', ...AUTH },
        duplex: 'half',
      } as RequestInit);
    // As many stalled uploads as OFTSR_MAX_QUEUE: the next request is still admitted.
    const waiting = [stalled(), stalled()];
    await new Promise((r) => setTimeout(r, 100));
    expect((await upscale(await patternImage(8, 8))).status).toBe(200);
    for (const res of await Promise.all(waiting)) {
      expect(res.status).toBe(408);
      expect(await errorOf(res)).toMatchObject({ code: 'timeout', field: 'OFTSR_BODY_TIMEOUT_MS' });
    }
  });

  it('refuses animated images', async () => {
    const frames = Buffer.alloc(8 * 16 * 4, 200).fill(10, 8 * 8 * 4);
    const webp = await sharp(frames, { raw: { width: 8, height: 16, channels: 4, pageHeight: 8 } })
      .webp()
      .toBuffer();
    const res = await upscale(webp, '', { 'content-type': 'image/webp' });
    expect(res.status).toBe(422);
    expect((await errorOf(res)).message).toMatch(/animated/);
    // An APNG was read as its first frame before.
    const apng = encodePng({ width: 8, height: 8, colourType: 2, bitDepth: 8, apngFrames: 120 });
    const animated = await upscale(apng);
    expect(animated.status).toBe(422);
    expect(await errorOf(animated)).toMatchObject({ code: 'unsupported_format' });
    expect((await errorOf(await upscale(apng))).message).toMatch(/APNG, 120 frames/);
  });

  it('needs a bearer token or an HMAC signature; health stays open', async () => {
    const png = await patternImage(8, 8);
    const none = await rt.app.request('/v1/upscale', {
      method: 'POST',
      body: png,
      headers: { 'content-type': 'image/png' },
    });
    expect(none.status).toBe(401);
    expect(none.headers.get('www-authenticate')).toMatch(/Bearer/);
    expect((await errorOf(none)).code).toBe('unauthorized');
    expect((await upscale(png, '', { authorization: 'Bearer wrong-token-0123456789' })).status).toBe(401);
    const signed = signRequest(TEST_HMAC_SECRET, 'POST', '/v1/upscale?t=0.3', png);
    const ok = await rt.app.request('/v1/upscale?t=0.3', {
      method: 'POST',
      body: png,
      headers: { 'content-type': 'image/png', ...signed },
    });
    expect(ok.status).toBe(200);
    const tampered = await rt.app.request('/v1/upscale?t=0.3', {
      method: 'POST',
      body: await patternImage(8, 9),
      headers: { 'content-type': 'image/png', ...signed },
    });
    expect(tampered.status).toBe(401);
    expect((await rt.app.request('/v2/health/live')).status).toBe(200);
  });

  it('micro-batches equal-shaped tiles across concurrent requests', async () => {
    const before = await metric('oftsr_tiles_per_batch_sum');
    const batchesBefore = await metric('oftsr_tiles_per_batch_count');
    const images = await Promise.all([1, 2].map((k) => patternImage(30 + k, 28)));
    const responses = await Promise.all(images.map((img) => upscale(img)));
    expect(responses.map((r) => r.status)).toEqual([200, 200]);
    const tiles = (await metric('oftsr_tiles_per_batch_sum')) - before;
    const batches = (await metric('oftsr_tiles_per_batch_count')) - batchesBefore;
    expect(tiles).toBe(2);
    expect(batches).toBe(1);
  });

  it('overload: a full queue answers 429 with Retry-After at once', async () => {
    const big = await patternImage(140, 60);
    const slow = [upscale(big), upscale(big)];
    await waitFor(
      () =>
        (rt.metrics.queueDepth as unknown as { hashMap: Record<string, { value: number }> }).hashMap[''] !==
          undefined && depth() >= 2,
      10_000,
      5,
    );
    const started = performance.now();
    const refused = await upscale(await patternImage(8, 8));
    expect(performance.now() - started).toBeLessThan(1000);
    expect(refused.status).toBe(429);
    expect(Number(refused.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
    expect((await errorOf(refused)).code).toBe('overloaded');
    expect((await Promise.all(slow)).map((r) => r.status)).toEqual([200, 200]);
  });

  it('deadline: work that overruns its deadline is dropped with 504', async () => {
    // Admission lets work in on the measured rate; here that rate is made 1000x too optimistic, as a
    // sudden slowdown (a noisy neighbour, a throttled GPU) would make it, so the work is admitted
    // and then overruns for certain, whatever the machine's load.
    const upscaler = rt.upscaler as unknown as { msPerTilePixel: number | undefined };
    const measured = upscaler.msPerTilePixel;
    upscaler.msPerTilePixel = (measured ?? 1e-3) / 1000;
    try {
      const before = await metric('oftsr_rejections_total{reason="deadline"}');
      const res = await upscale(await patternImage(480, 200), '', { [HEADERS.deadlineMs]: '40' });
      expect(res.status).toBe(504);
      expect((await errorOf(res)).code).toBe('timeout');
      expect(await metric('oftsr_rejections_total{reason="deadline"}')).toBe(before + 1);
    } finally {
      upscaler.msPerTilePixel = measured;
    }
  });

  it('health answers promptly while inference runs (the session lives in a worker thread)', async () => {
    // Large enough to still be running after the five checks below, on a quiet machine too.
    const busy = upscale(await patternImage(480, 200));
    await waitFor(() => depth() >= 1, 10_000, 5);
    await new Promise((r) => setTimeout(r, 200));
    const times: number[] = [];
    for (let k = 0; k < 5; k++) {
      const started = performance.now();
      expect((await rt.app.request('/v2/health/ready')).status).toBe(200);
      times.push(performance.now() - started);
      await new Promise((r) => setTimeout(r, 100));
    }
    expect(depth()).toBeGreaterThanOrEqual(1);
    expect(Math.max(...times)).toBeLessThan(250);
    expect((await busy).status).toBe(200);
  });
});

function depth(): number {
  return (
    (rt.metrics.queueDepth as unknown as { hashMap: Record<string, { value: number }> }).hashMap['']?.value ??
    0
  );
}

async function metric(name: string): Promise<number> {
  const text = await (await rt.app.request('/metrics')).text();
  const line = text.split('\n').find((l) => l.startsWith(`${name} `));
  return line ? Number(line.split(' ')[1]) : 0;
}

describe('GET /metrics', () => {
  it('exports the runner metrics in Prometheus format', async () => {
    const res = await rt.app.request('/metrics');
    expect(res.headers.get('content-type')).toMatch(/text\/plain/);
    const text = await res.text();
    for (const name of [
      'oftsr_http_requests_total{route="/v1/upscale",method="POST",status="200"}',
      'oftsr_http_requests_total{route="/v1/upscale",method="POST",status="429"}',
      'oftsr_queue_depth',
      'oftsr_queue_wait_seconds_bucket',
      'oftsr_inference_seconds_bucket{le="0.5",shape="64x64"}',
      'oftsr_encode_seconds_bucket{le="0.5",format="png"}',
      'oftsr_tiles_per_batch_bucket',
      'oftsr_execution_provider{provider="cpu",intended="cpu"} 1',
      'oftsr_process_resident_memory_bytes',
    ]) {
      expect(text, name).toContain(name);
    }
  });
});

describe('jobs (S3 via moto)', () => {
  async function job(body: unknown): Promise<Response> {
    return rt.app.request('/v1/jobs', {
      method: 'POST',
      body: JSON.stringify(body),
      headers: { 'content-type': 'application/json', ...AUTH },
    });
  }
  async function settle(id: string, runtime = rt): Promise<Job> {
    let last: Job | undefined;
    await waitFor(async () => {
      last = (await (await runtime.app.request(`/v1/jobs/${id}`, { headers: AUTH })).json()) as Job;
      return last.state === 'succeeded' || last.state === 'failed';
    }, 30_000);
    return last as Job;
  }

  it('reads the source key, writes the result with parameters and model version as metadata', async () => {
    await moto.client.send(
      new PutObjectCommand({ Bucket: BUCKET, Key: 'in/cat.png', Body: await patternImage(20, 20) }),
    );
    const res = await job({
      source: 'in/cat.png',
      destination: 'out/cat.webp',
      params: { t: 0.7, format: 'webp' },
    });
    expect(res.status).toBe(202);
    const queued = (await res.json()) as Job;
    expect(res.headers.get('location')).toBe(`/v1/jobs/${queued.id}`);
    expect(['queued', 'running']).toContain(queued.state);
    const done = await settle(queued.id);
    expect(done).toMatchObject({
      state: 'succeeded',
      output: { contentType: 'image/webp', width: 80, height: 80 },
    });
    const head = await moto.client.send(new HeadObjectCommand({ Bucket: BUCKET, Key: 'out/cat.webp' }));
    expect(head.Metadata).toMatchObject({
      'oftsr-params': 'format=webp&q=85&seed=0&sr=4&t=0.7',
      'oftsr-model-version': rt.upscaler.model?.manifest.version,
      'oftsr-provider': 'cpu',
    });
    const obj = await moto.client.send(new GetObjectCommand({ Bucket: BUCKET, Key: 'out/cat.webp' }));
    const meta = await sharp(Buffer.from(await obj.Body!.transformToByteArray())).metadata();
    expect([meta.width, meta.format]).toEqual([80, 'webp']);
  });

  it('a missing source fails for good; a bad image fails for good; bad requests are 400/404', async () => {
    const missing = await settle(
      ((await (await job({ source: 'in/none.png', destination: 'out/none.png' })).json()) as Job).id,
    );
    expect(missing).toMatchObject({ state: 'failed', retryable: false, error: { code: 'upstream' } });
    expect(missing.error?.message).toMatch(/not found/);
    await moto.client.send(new PutObjectCommand({ Bucket: BUCKET, Key: 'in/text.png', Body: 'not pixels' }));
    const bad = await settle(
      ((await (await job({ source: 'in/text.png', destination: 'out/text.png' })).json()) as Job).id,
    );
    expect(bad).toMatchObject({ state: 'failed', retryable: false, error: { code: 'unsupported_format' } });
    expect((await job({ source: 'a', destination: 'a' })).status).toBe(400);
    expect((await job({ source: 'a', destination: 'b', params: { t: 5 } })).status).toBe(400);
    expect((await job({ source: 'a', destination: 'b', extra: 1 })).status).toBe(400);
    expect((await rt.app.request('/v1/jobs/unknown', { headers: AUTH })).status).toBe(404);
    expect((await rt.app.request('/v1/jobs/unknown')).status).toBe(401);
  });

  it('a source key in any script works: metadata values are percent-encoded, not refused', async () => {
    const key = 'src/ü-日本 %.png';
    await moto.client.send(
      new PutObjectCommand({ Bucket: BUCKET, Key: key, Body: await patternImage(8, 8) }),
    );
    const res = await job({ source: key, destination: 'out/ü-日本.png' });
    const done = await settle(((await res.json()) as Job).id);
    expect(done).toMatchObject({ state: 'succeeded' });
    const head = await moto.client.send(new HeadObjectCommand({ Bucket: BUCKET, Key: 'out/ü-日本.png' }));
    expect(decodeURIComponent(head.Metadata?.['oftsr-source'] ?? '')).toBe(`${BUCKET}/${key}`);
  });

  it('S3 down: the job fails with a clear error and stays retryable', async () => {
    const down = await startRuntime({
      OFTSR_S3_ENDPOINT: `http://127.0.0.1:${await freePort()}`,
      OFTSR_S3_REGION: 'us-east-1',
      OFTSR_S3_FORCE_PATH_STYLE: '1',
      OFTSR_S3_BUCKET: BUCKET,
      OFTSR_S3_MAX_ATTEMPTS: '1',
      OFTSR_TILE_SIZES: '128',
    });
    try {
      const res = await down.app.request('/v1/jobs', {
        method: 'POST',
        body: JSON.stringify({ source: 'in/cat.png', destination: 'out/x.png' }),
        headers: { 'content-type': 'application/json', ...AUTH },
      });
      const failed = await settle(((await res.json()) as Job).id, down);
      expect(failed).toMatchObject({ state: 'failed', retryable: true, error: { code: 'upstream' } });
      expect(failed.error?.message).toMatch(/S3 unreachable \(ECONNREFUSED/);
    } finally {
      await down.close();
    }
  });
});
