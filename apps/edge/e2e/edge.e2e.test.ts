import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { probeImage } from '../src/image-size.ts';
import {
  cleanup,
  freePort,
  MODEL_VERSION,
  ROOT,
  RUNNER_ENTRY,
  startEdge,
  startOrigin,
  startRunner,
  stop,
} from '../../../scripts/stack.ts';

const runnerPresent = existsSync(RUNNER_ENTRY);
const skip = !runnerPresent || process.env.OFTSR_SKIP_E2E === '1';
if (skip) {
  console.warn(
    runnerPresent
      ? 'edge e2e skipped: OFTSR_SKIP_E2E=1'
      : `edge e2e skipped: ${RUNNER_ENTRY} does not exist (the runner service, issue #4)`,
  );
}

async function get(url: string, accept = '*/*'): Promise<{ res: Response; bytes: Uint8Array }> {
  const res = await fetch(url, { headers: { accept } });
  return { res, bytes: new Uint8Array(await res.arrayBuffer()) };
}

describe.skipIf(skip)('end to end: wrangler dev + the real runner (CPU) + a local origin', () => {
  let origin: Awaited<ReturnType<typeof startOrigin>> | undefined;
  let runner: Awaited<ReturnType<typeof startRunner>> | undefined;
  let edge: Awaited<ReturnType<typeof startEdge>> | undefined;

  beforeAll(async () => {
    origin = await startOrigin(join(ROOT, 'samples'));
    const runnerPort = await freePort();
    const started = await Promise.allSettled([
      startRunner(runnerPort),
      startEdge({ originUrl: origin.url, runnerUrl: `http://127.0.0.1:${runnerPort}` }),
    ]);
    if (started[0].status === 'fulfilled') runner = started[0].value;
    if (started[1].status === 'fulfilled') edge = started[1].value;
    for (const s of started) if (s.status === 'rejected') throw s.reason;
  }, 240_000);

  afterAll(async () => {
    await Promise.all([stop(edge?.proc), stop(runner?.proc)]);
    origin?.server.close();
    cleanup(edge?.persistDir);
  }, 30_000);

  it('the same URL twice: miss, then hit, with identical bytes', async () => {
    const url = `${edge?.url}/landscape-192x128.png?sr=4&t=0.7`;
    const first = await get(url);
    expect(first.res.status, edge?.log()).toBe(200);
    expect(first.res.headers.get('x-oftsr-cache')).toBe('miss');
    expect(first.res.headers.get('x-model-version')).toBe(MODEL_VERSION);
    expect(first.res.headers.get('x-execution-provider')).toBe('cpu');
    expect(first.res.headers.get('content-type')).toBe('image/png');
    expect(probeImage(first.bytes)).toEqual({ status: 'ok', format: 'png', width: 768, height: 512 });

    const second = await get(url);
    expect(second.res.status).toBe(200);
    expect(second.res.headers.get('x-oftsr-cache')).toBe('hit');
    expect(second.res.headers.get('etag')).toBe(first.res.headers.get('etag'));
    expect(Buffer.from(second.bytes).equals(Buffer.from(first.bytes))).toBe(true);
    expect(origin?.hits()).toBe(1);
  }, 120_000);

  it('Accept: image/webp gets WebP from the runner (sr=2: 384x256)', async () => {
    const { res, bytes } = await get(`${edge?.url}/badge-128x128.png?sr=2&t=0.3`, 'image/webp,*/*');
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('image/webp');
    expect(res.headers.get('vary')).toBe('Accept');
    expect(probeImage(bytes)).toMatchObject({ status: 'ok', format: 'webp', width: 256, height: 256 });
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
});
