/**
 * The SDK in real headless Chromium (Debian's package, driven by playwright-core): WebGPU runs on the
 * SwiftShader adapter (--enable-unsafe-webgpu), a second browser has no adapter at all. The cloud is
 * a real local runner (onnxruntime-node, CPU) behind the test server's `/cloud/` proxy. SwiftShader
 * emulates a GPU on the CPU, so images stay tiny (a 64² tile takes ~10 s here).
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Browser, Page, Worker } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CPU_RUNNER_ENV, chromiumPath, launchChromium, ROOT, RUNNER_TOKEN, startRunner } from '@oftsr/devkit';
import type { Runner } from '@oftsr/devkit';
import { buildSdk } from '../scripts/build.ts';
import { startServer } from '../scripts/serve.ts';
import type { StaticServer } from '../scripts/serve.ts';
import type * as SdkModule from '../src/index.ts';

type Sdk = typeof SdkModule;

const chromiumPresent = chromiumPath() !== undefined;
if (!chromiumPresent) {
  console.warn(
    "client-sdk browser tests skipped: no Chromium (bin/setup installs Debian's chromium; or set OFTSR_CHROMIUM)",
  );
}

/** Largest allowed difference, in 8-bit levels, between the device and the cloud for one seed. */
const LEVELS = 2;

/** In-page helpers, installed into every page: a PNG of a fixed pattern, and pixel comparison. */
const PAGE_HELPERS = `
  window.patternPng = async (w, h) => {
    const px = new Uint8ClampedArray(w * h * 4);
    for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) {
      const i = (y * w + x) * 4;
      const disc = (x - w / 2) ** 2 + (y - h / 2) ** 2 < (Math.min(w, h) / 3) ** 2;
      px[i] = Math.round(255 * x / (w - 1)); px[i + 1] = disc ? 230 : Math.round(255 * y / (h - 1));
      px[i + 2] = x % 4 < 2 ? 40 : 200; px[i + 3] = 255;
    }
    const c = new OffscreenCanvas(w, h); c.getContext('2d').putImageData(new ImageData(px, w, h), 0, 0);
    return c.convertToBlob({ type: 'image/png' });
  };
  window.sdk = () => import('/sdk/index.js');
  window.maxDiff = (a, b) => { let m = 0; for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i])); return m; };
`;

async function openPage(browser: Browser, server: StaticServer): Promise<Page> {
  const page = await browser.newPage();
  page.on('pageerror', (err) => console.warn('pageerror:', err.message));
  await page.addInitScript(PAGE_HELPERS);
  await page.goto(`${server.url}/blank.html`);
  return page;
}

describe.skipIf(!chromiumPresent)('client-sdk in Chromium', () => {
  let runner: Runner | undefined;
  let server: StaticServer;
  let gpuBrowser: Browser;
  let plainBrowser: Browser;
  let tampered: string;

  beforeAll(async () => {
    const started = Promise.all([
      startRunner({
        env: { ...CPU_RUNNER_ENV, OFTSR_TILE_SIZES: '64,128', OFTSR_MAX_BATCH: '1' },
      }),
      buildSdk(),
    ]);
    [runner] = await started;
    // A manifest whose hash does not match the model: the device load must fail, the cloud finish.
    tampered = join(tmpdir(), `oftsr-sdk-tampered-${process.pid}`);
    mkdirSync(tampered, { recursive: true });
    const manifest = JSON.parse(readFileSync(join(ROOT, 'models/oftsr-student-x4.json'), 'utf8'));
    writeFileSync(
      join(tampered, 'm.json'),
      JSON.stringify({ ...manifest, sha256: '0'.repeat(64), file: 'm.onnx' }),
    );
    writeFileSync(join(tampered, 'm.onnx'), readFileSync(join(ROOT, 'models/oftsr-student-x4.onnx')));
    server = await startServer({
      cloudUrl: runner.url,
      cloudToken: RUNNER_TOKEN,
      mounts: { '/tampered/': tampered },
    });
    [gpuBrowser, plainBrowser] = await Promise.all([
      launchChromium({ webgpu: true }),
      launchChromium({ webgpu: false }),
    ]);
  }, 240_000);

  afterAll(async () => {
    await gpuBrowser?.close();
    await plainBrowser?.close();
    await server?.close();
    await runner?.stop();
  });

  // Device (WebGPU), then the same call in the cloud; both decoded to RGBA in the page.
  let devicePixels: number[] = [];

  it('runs the real student on WebGPU and matches onnxruntime-node (the runner) within 2 levels', async () => {
    const page = await openPage(gpuBrowser, server);
    const r = await page.evaluate(async (levels) => {
      const { createUpscaler } = await (window as unknown as { sdk(): Promise<Sdk> }).sdk();
      const w = window as unknown as {
        patternPng(w: number, h: number): Promise<Blob>;
        maxDiff(a: ArrayLike<number>, b: ArrayLike<number>): number;
      };
      const png = await w.patternPng(48, 40);
      const device = createUpscaler({ model: '/models/oftsr-student-x4.json', prefer: 'device' });
      const cloud = createUpscaler({
        model: '/models/oftsr-student-x4.json',
        prefer: 'cloud',
        cloud: { runner: '/cloud/' },
      });
      const caps = await device.capabilities();
      const progress: unknown[] = [];
      const a = await device.upscale(png, {
        t: 0.7,
        seed: 7,
        output: 'imageData',
        onProgress: (p: unknown) => progress.push(p),
      });
      const b = await cloud.upscale(png, { t: 0.7, seed: 7, output: 'imageData' });
      const c = await cloud.upscale(png, { t: 0.7, seed: 8, output: 'imageData' });
      const aliveBefore = device.diagnostics().workerAlive;
      await device.dispose();
      // dispose() ends the device worker (and its WebGPU session) and refuses further work.
      const afterDispose = {
        aliveBefore,
        alive: device.diagnostics().workerAlive,
        error: await device.upscale(png).then(
          () => null,
          (e: unknown) => (e as { code?: string }).code ?? String(e),
        ),
      };
      return {
        afterDispose,
        caps,
        progress,
        levels,
        a: { ranOn: a.ranOn, w: a.width, h: a.height, gc: a.graphCapture },
        b: { ranOn: b.ranOn, w: b.width, h: b.height },
        diff: w.maxDiff(a.image.data, b.image.data),
        otherSeed: w.maxDiff(b.image.data, c.image.data),
        pixels: Array.from(a.image.data),
      };
    }, LEVELS);
    expect(r.caps.webgpu).toBe(true);
    expect(r.caps.adapter.architecture).toBe('swiftshader');
    expect(r.a).toMatchObject({ ranOn: 'webgpu', w: 192, h: 160 });
    expect(r.b).toMatchObject({ ranOn: 'cloud', w: 192, h: 160 });
    expect(r.diff).toBeLessThanOrEqual(LEVELS);
    expect(r.afterDispose).toEqual({ aliveBefore: true, alive: false, error: 'unavailable' });
    // A single-tile job still moves: load, the tile, the output.
    const steps = r.progress as {
      done: number;
      total: number;
      where: string;
      stage: string;
      fraction: number;
    }[];
    expect(steps.at(-1)).toMatchObject({ done: 1, total: 1, where: 'webgpu', stage: 'output', fraction: 1 });
    expect(steps.map((p) => p.stage)).toEqual(['load', 'tiles', 'tiles', 'output']);
    expect(steps.map((p) => p.fraction)).toEqual([0, 0.1, 0.95, 1]);
    devicePixels = r.pixels;
    console.info(`device vs runner: max diff ${r.diff} levels; seed 7 vs 8 in the cloud: ${r.otherSeed}`);
    await page.close();
  }, 180_000);

  it('aborts mid-tile on WebGPU promptly, terminating the worker (and with it its GPU memory)', async () => {
    const page = await openPage(gpuBrowser, server);
    const r = await page.evaluate(async () => {
      const { createUpscaler } = await (window as unknown as { sdk(): Promise<Sdk> }).sdk();
      const w = window as unknown as { patternPng(w: number, h: number): Promise<Blob> };
      const up = createUpscaler({ model: '/models/oftsr-student-x4.json', prefer: 'device' });
      await up.warmup();
      const aliveBefore = up.diagnostics().workerAlive;
      const controller = new AbortController();
      const events: number[] = [];
      const run = up.upscale(await w.patternPng(48, 40), {
        signal: controller.signal,
        onProgress: (p: { done: number }) => events.push(p.done),
      });
      await new Promise((r) => setTimeout(r, 1500));
      const t0 = performance.now();
      controller.abort(new DOMException('stop', 'AbortError'));
      const error = await run.then(
        () => 'resolved',
        (e: Error) => e.name,
      );
      const abortMs = performance.now() - t0;
      const eventsAtAbort = events.length;
      await new Promise((r) => setTimeout(r, 1000));
      return {
        aliveBefore,
        aliveAfter: up.diagnostics().workerAlive,
        error,
        abortMs,
        eventsAtAbort,
        eventsLater: events.length,
        events,
      };
    });
    expect(r.aliveBefore).toBe(true);
    expect(r.error).toBe('AbortError');
    expect(r.abortMs).toBeLessThan(500);
    expect(r.aliveAfter).toBe(false);
    expect(r.eventsLater).toBe(r.eventsAtAbort);
    expect(r.events.every((d) => d === 0)).toBe(true);
    await page.close();
  }, 120_000);

  it('without WebGPU the same call completes through the real runner, with the same pixels', async () => {
    const page = await openPage(plainBrowser, server);
    const before = server.requests.filter((r) => r.startsWith('POST /cloud/')).length;
    const r = await page.evaluate(async () => {
      const { createUpscaler } = await (window as unknown as { sdk(): Promise<Sdk> }).sdk();
      const w = window as unknown as { patternPng(w: number, h: number): Promise<Blob> };
      const up = createUpscaler({ model: '/models/oftsr-student-x4.json', cloud: { runner: '/cloud/' } });
      const caps = await up.capabilities();
      const progress: unknown[] = [];
      const res = await up.upscale(await w.patternPng(48, 40), {
        t: 0.7,
        seed: 7,
        output: 'imageData',
        onProgress: (p: unknown) => progress.push(p),
      });
      return { caps, ranOn: res.ranOn, reason: res.reason, progress, pixels: Array.from(res.image.data) };
    });
    expect(r.caps).toMatchObject({ webgpu: false, path: 'cloud' });
    expect(r.ranOn).toBe('cloud');
    expect(r.reason).toMatch(/no WebGPU/);
    // A cloud job moves too: the request out, the answer in, the output.
    const steps = r.progress as { done: number; where: string; stage: string; fraction: number }[];
    expect(steps.at(-1)).toMatchObject({ done: 1, total: 1, where: 'cloud', stage: 'output', fraction: 1 });
    expect(steps.map((p) => [p.stage, p.fraction])).toEqual([
      ['cloud', 0.1],
      ['cloud', 0.8],
      ['cloud', 0.9],
      ['output', 1],
    ]);
    expect(server.requests.filter((q) => q.startsWith('POST /cloud/')).length).toBe(before + 1);
    let diff = 0;
    for (let i = 0; i < r.pixels.length; i++)
      diff = Math.max(diff, Math.abs((r.pixels[i] as number) - (devicePixels[i] ?? -99)));
    expect(diff).toBeLessThanOrEqual(LEVELS);
    await page.close();
  }, 120_000);

  it('on SwiftShader with a cloud configured, auto runs in the cloud and capabilities() says why', async () => {
    const page = await openPage(gpuBrowser, server);
    const before = server.requests.filter((r) => r.startsWith('POST /cloud/')).length;
    const r = await page.evaluate(async () => {
      const { createUpscaler } = await (window as unknown as { sdk(): Promise<Sdk> }).sdk();
      const w = window as unknown as { patternPng(w: number, h: number): Promise<Blob> };
      const up = createUpscaler({ model: '/models/oftsr-student-x4.json', cloud: { runner: '/cloud/' } });
      const caps = await up.capabilities();
      const res = await up.upscale(await w.patternPng(32, 24), { t: 0.5, seed: 1 });
      await up.dispose();
      return { caps, ranOn: res.ranOn, reason: res.reason };
    });
    expect(r.caps.webgpu).toBe(true); // the adapter is there …
    expect(r.caps.path).toBe('cloud'); // … but it is SwiftShader, not a GPU
    expect(r.caps.reason).toMatch(/software renderer.*not a GPU; using the cloud/);
    expect(r.ranOn).toBe('cloud');
    expect(server.requests.filter((q) => q.startsWith('POST /cloud/')).length).toBe(before + 1);
    await page.close();
  }, 120_000);

  it('finishes in the cloud when the WebGPU device is lost mid-run (GPUDevice.destroy between tiles)', async () => {
    const page = await openPage(gpuBrowser, server);
    // Remember the GPUDevice onnxruntime records its commands on, in every worker as it starts
    // (the SDK's worker loads the model long before it records anything).
    const workers: Worker[] = [];
    page.on('worker', (worker) => {
      workers.push(worker);
      void worker
        .evaluate(() => {
          if (typeof GPUDevice === 'undefined') return;
          const record = GPUDevice.prototype.createCommandEncoder;
          GPUDevice.prototype.createCommandEncoder = function (this: GPUDevice, ...args) {
            (self as unknown as { oftsrDevice?: GPUDevice }).oftsrDevice = this;
            return record.apply(this, args);
          };
        })
        .catch(() => undefined);
    });
    const pending = page.evaluate(async () => {
      const { createUpscaler } = await (window as unknown as { sdk(): Promise<Sdk> }).sdk();
      const w = window as unknown as {
        patternPng(w: number, h: number): Promise<Blob>;
        maxDiff(a: ArrayLike<number>, b: ArrayLike<number>): number;
        deviceTilesDone: number;
      };
      w.deviceTilesDone = 0;
      // 80x40 (a 136x96 frame with its context) with 128² tiles (the smallest above twice the
      // overlap): two device tiles; the device is lost after the first.
      const png = await w.patternPng(80, 40);
      const options = { t: 0.5, seed: 3, tileSize: 128, output: 'imageData' as const };
      const up = createUpscaler({
        model: '/models/oftsr-student-x4.json',
        prefer: 'device',
        cloud: { runner: '/cloud/' },
      });
      const progress: { done: number; total: number; where: string }[] = [];
      const res = await up.upscale(png, {
        ...options,
        onProgress: (p) => {
          progress.push(p);
          if (p.where === 'webgpu') w.deviceTilesDone = p.done;
        },
      });
      const cloud = createUpscaler({
        model: '/models/oftsr-student-x4.json',
        prefer: 'cloud',
        cloud: { runner: '/cloud/' },
      });
      const ref = await cloud.upscale(png, options);
      await up.dispose();
      return {
        ranOn: res.ranOn,
        fallbackFrom: res.fallbackFrom,
        reason: res.reason,
        w: res.width,
        h: res.height,
        progress,
        diff: w.maxDiff(res.image.data, ref.image.data),
      };
    });
    const outcome = pending.then(
      (value) => ({ value }),
      (error: unknown) => ({ error }),
    );
    const firstTile = page.waitForFunction(
      () => (window as unknown as { deviceTilesDone?: number }).deviceTilesDone === 1,
      null,
      { timeout: 200_000, polling: 50 },
    );
    const early = await Promise.race([firstTile.then(() => undefined), outcome]);
    if (early !== undefined)
      throw new Error(`the run ended before its first tile: ${String(JSON.stringify(early))}`);
    // A real loss, not a simulated error: the SDK worker's own GPUDevice is destroyed while the
    // second tile's work is queued on it.
    let patched = 0;
    for (const worker of workers) {
      patched += await worker.evaluate(() => {
        const device = (self as unknown as { oftsrDevice?: GPUDevice }).oftsrDevice;
        device?.destroy();
        return device === undefined ? 0 : 1;
      });
    }
    expect(patched).toBeGreaterThan(0);
    const settled = await outcome;
    if ('error' in settled) throw settled.error;
    const r = settled.value;
    expect(r).toMatchObject({ ranOn: 'cloud', fallbackFrom: 'webgpu', w: 320, h: 160 });
    expect(r.reason).toMatch(/^webgpu failed/);
    // The job was finished in the cloud: the same pixels as asking the cloud directly.
    expect(r.diff).toBe(0);
    expect(r.progress.map((p) => p.done)).toEqual([...r.progress.map((p) => p.done)].sort((a, b) => a - b));
    expect(r.progress.at(-1)).toMatchObject({ where: 'cloud' });
    await page.close();
  }, 300_000);

  it('finishes in the cloud when the model fails its hash check', async () => {
    const page = await openPage(plainBrowser, server);
    const r = await page.evaluate(async () => {
      const { createUpscaler } = await (window as unknown as { sdk(): Promise<Sdk> }).sdk();
      const w = window as unknown as { patternPng(w: number, h: number): Promise<Blob> };
      const up = createUpscaler({
        model: '/tampered/m.json',
        prefer: 'device',
        cloud: { runner: '/cloud/' },
      });
      const res = await up.upscale(await w.patternPng(24, 20), { output: 'blob' });
      return {
        ranOn: res.ranOn,
        reason: res.reason,
        fallbackFrom: res.fallbackFrom,
        type: res.image.type,
        w: res.width,
        diag: up.diagnostics(),
      };
    });
    expect(r).toMatchObject({ ranOn: 'cloud', fallbackFrom: 'wasm', type: 'image/png', w: 96 });
    expect(r.reason).toMatch(/does not match its manifest/);
    expect(r.diag.deviceDisabled).toMatch(/failed to load/);
    await page.close();
  }, 120_000);

  it('warmup(sizes, { signal }) opens the session an image size will use; an abort stops the worker', async () => {
    const page = await openPage(plainBrowser, server);
    const r = await page.evaluate(async () => {
      const { createUpscaler } = await (window as unknown as { sdk(): Promise<Sdk> }).sdk();
      const up = createUpscaler({ model: '/models/oftsr-student-x4.json', prefer: 'device' });
      const caps = await up.warmup([{ width: 100, height: 80 }], { signal: new AbortController().signal });
      const alive = up.diagnostics().workerAlive;
      await up.dispose();
      const other = createUpscaler({ model: '/models/oftsr-student-x4.json', prefer: 'device' });
      const controller = new AbortController();
      const started = performance.now();
      const warming = other.warmup([256], { signal: controller.signal });
      setTimeout(() => controller.abort(), 50);
      const error = await warming.then(
        () => 'resolved',
        (e: unknown) => (e as Error).name,
      );
      return {
        path: caps.path,
        alive,
        error,
        ms: performance.now() - started,
        after: other.diagnostics().workerAlive,
      };
    });
    expect(r).toMatchObject({ path: 'wasm', alive: true, error: 'AbortError', after: false });
    expect(r.ms).toBeLessThan(2000);
    await page.close();
  }, 120_000);

  it('on the wasm provider: monotone progress over several tiles, Cache Storage reuse, prompt abort', async () => {
    const page = await openPage(plainBrowser, server);
    const r = await page.evaluate(async () => {
      const { createUpscaler } = await (window as unknown as { sdk(): Promise<Sdk> }).sdk();
      const w = window as unknown as { patternPng(w: number, h: number): Promise<Blob> };
      // A 208x96 frame with its context: two 160² tiles.
      const png = await w.patternPng(150, 40);
      const up = createUpscaler({ model: '/models/oftsr-student-x4.json', prefer: 'device' });
      const progress: { done: number; total: number; where: string; stage: string; fraction: number }[] = [];
      const res = await up.upscale(png, {
        tileSize: 160,
        output: 'imageBitmap',
        onProgress: (p: never) => progress.push(p),
      });
      const cachedFirst = up.diagnostics().modelCached;
      await up.dispose();
      const again = createUpscaler({ model: '/models/oftsr-student-x4.json', prefer: 'device' });
      await again.warmup();
      const cachedSecond = again.diagnostics().modelCached;
      const controller = new AbortController();
      const events: number[] = [];
      const t0 = { v: 0 };
      const run = again.upscale(png, {
        tileSize: 160,
        signal: controller.signal,
        onProgress: (p: { done: number; stage: string }) => {
          if (p.stage !== 'tiles') return;
          events.push(p.done);
          if (p.done === 1) {
            t0.v = performance.now();
            controller.abort();
          }
        },
      });
      const error = await run.then(
        () => 'resolved',
        (e: Error) => e.name,
      );
      const abortMs = performance.now() - t0.v;
      await new Promise((r) => setTimeout(r, 1500));
      return {
        ranOn: res.ranOn,
        bitmap: [res.image.width, res.image.height],
        progress,
        cachedFirst,
        cachedSecond,
        error,
        abortMs,
        events,
        alive: again.diagnostics().workerAlive,
      };
    });
    expect(r.ranOn).toBe('wasm');
    expect(r.bitmap).toEqual([600, 160]);
    const tiles = r.progress.filter((p) => p.stage === 'tiles');
    expect(tiles.map((p) => p.done)).toEqual([0, 1, 2]);
    expect(tiles.every((p) => p.total === 2 || p.done === 0)).toBe(true);
    expect(r.progress.map((p) => p.fraction)).toEqual(
      [...r.progress.map((p) => p.fraction)].sort((a, b) => a - b),
    );
    expect(r.cachedSecond).toBe(true);
    expect(r.error).toBe('AbortError');
    expect(r.abortMs).toBeLessThan(500);
    expect(r.events).toEqual([0, 1]);
    expect(r.alive).toBe(false);
    await page.close();
  }, 180_000);

  it('the demo: sample, labelled before/after that line up at any size, both sliders, screenshots', async () => {
    const shots = join(ROOT, 'test-output/client-sdk');
    mkdirSync(shots, { recursive: true });
    const page = await plainBrowser.newPage({ viewport: { width: 1000, height: 900 } });
    page.on('pageerror', (err) => console.warn('pageerror:', err.message));
    const shot = (name: string) => page.screenshot({ path: join(shots, `demo-${name}.png`), fullPage: true });
    const runsDone = (n: number) =>
      page.waitForFunction((k) => Number(document.body.dataset.runs ?? 0) >= k, n, { timeout: 60_000 });
    /** Displayed boxes of the two sides, and what the split shows. */
    const layout = () =>
      page.evaluate(() => {
        const box = (id: string) => {
          const r = (document.getElementById(id) as HTMLElement).getBoundingClientRect();
          return [r.left, r.top, r.width, r.height].map((v) => Math.round(v * 10) / 10);
        };
        const after = document.getElementById('after') as HTMLImageElement;
        const before = document.getElementById('before') as HTMLCanvasElement;
        return {
          before: box('before'),
          after: box('after'),
          natural: [after.naturalWidth, after.naturalHeight, before.width, before.height],
          clip: getComputedStyle(after).clipPath,
          tags: [
            document.getElementById('tag-before')?.textContent,
            document.getElementById('tag-after')?.textContent,
          ],
        };
      });

    await page.goto(`${server.url}/?prefer=cloud`);
    await page.waitForFunction(() => document.body.dataset.state === 'idle');
    // The empty state: no broken images, no result, no raw JSON in view.
    const empty = await page.evaluate(() => ({
      broken: [...document.images].filter(
        (i) => i.offsetParent !== null && !(i.complete && i.naturalWidth > 0),
      ).length,
      result: (document.getElementById('result') as HTMLElement).hidden,
      prefer: (document.getElementById('prefer') as HTMLSelectElement).value,
    }));
    expect(empty).toEqual({ broken: 0, result: true, prefer: 'cloud' });
    await shot('1-empty');

    await page.click('#sample');
    await runsDone(1);
    let l = await layout();
    expect(await page.evaluate(() => document.body.dataset.ranOn)).toBe('cloud');
    expect(l.natural).toEqual([768, 512, 768, 512]);
    expect(l.before).toEqual(l.after); // same displayed box, so the halves line up
    expect(l.tags).toEqual(['before · bicubic', 'after · oftsr ×4, t = 0.5']);
    expect(await page.textContent('#where')).toMatch(/^Ran on the cloud — prefer: cloud\.$/);
    expect(await page.textContent('#status')).toMatch(/^Done: 768×512 in \d+\.\d s$/);
    await shot('2-result');

    // The split: drag across the image with the mouse.
    const [x, y, w, h] = l.after as [number, number, number, number];
    await page.mouse.move(x + w * 0.5, y + h / 2);
    await page.mouse.down();
    await page.mouse.move(x + w * 0.25, y + h / 2, { steps: 5 });
    await page.mouse.up();
    expect((await layout()).clip).toBe('inset(0px 0px 0px 25%)');
    expect(await page.inputValue('#split')).toBe('25');
    await shot('3-split-25');

    // The t slider: two key presses (each a release), the last one's result is shown.
    await page.focus('#t');
    await page.keyboard.press('ArrowRight');
    await page.keyboard.press('ArrowRight');
    await page.waitForFunction(
      () =>
        document.body.dataset.state === 'done' &&
        document.getElementById('tag-after')?.textContent?.includes('t = 0.6'),
      null,
      { timeout: 60_000 },
    );
    expect(await page.getAttribute('#download', 'download')).toBe('landscape-192x128-x4-t0.6.png');

    // Narrower than the output: both sides shrink to one box.
    await page.setViewportSize({ width: 480, height: 800 });
    l = await layout();
    expect(l.before).toEqual(l.after);
    expect(l.after[2]).toBeLessThanOrEqual(480);
    expect(l.after[2]).toBeLessThan(768);
    await shot('4-narrow');

    // A new input: the old result disappears at once, the new one has its own size.
    const runs = Number(await page.evaluate(() => document.body.dataset.runs));
    const png = await page.evaluate(async () => {
      const c = new OffscreenCanvas(40, 32);
      const ctx = c.getContext('2d') as OffscreenCanvasRenderingContext2D;
      ctx.fillStyle = '#36c';
      ctx.fillRect(0, 0, 40, 32);
      ctx.fillStyle = '#fff';
      ctx.fillRect(12, 8, 16, 16);
      return Array.from(new Uint8Array(await (await c.convertToBlob({ type: 'image/png' })).arrayBuffer()));
    });
    await page.setInputFiles('#file', { name: 'box.png', mimeType: 'image/png', buffer: Buffer.from(png) });
    expect(await page.isHidden('#result')).toBe(true);
    await runsDone(runs + 1);
    l = await layout();
    expect(l.natural).toEqual([160, 128, 160, 128]);
    expect(l.before).toEqual(l.after);

    // Stop is a stop, not an error.
    await page.click('#go');
    await page.click('#stop');
    await page.waitForFunction(() => document.body.dataset.state !== 'running');
    const state = await page.evaluate(() => document.body.dataset.state);
    if (state === 'stopped') {
      expect(await page.textContent('#status')).toMatch(/^Stopped after/);
      expect(await page.isHidden('#error')).toBe(true);
    }
    console.info(`demo screenshots: ${shots}`);
    await page.close();
  }, 180_000);
});
