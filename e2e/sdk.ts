// Drives the client SDK (apps/client-sdk) in headless Chromium with WebGPU off, for the
// end-to-end test of its cloud path through the edge. The SDK is bundled by its own build script
// (apps/client-sdk/scripts/build.ts → dist/). The test page, the bundle and the model come from the
// SDK's own static server (scripts/serve.ts) on another loopback port than the real edge, as on a
// customer's site: the SDK's requests to the edge are cross-origin and pass only through the edge's
// CORS answer (CORS_ALLOW_ORIGINS). Loopback for both, because Chromium's local-network checks keep
// a page on a public origin from reaching loopback at all.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromiumPath, launchChromium, ROOT } from '@oftsr/devkit';

const SDK_DIR = join(ROOT, 'apps/client-sdk');
const SDK_BUILD = join(SDK_DIR, 'scripts/build.ts');
const SDK_SERVE = join(SDK_DIR, 'scripts/serve.ts');
const require = createRequire(join(SDK_DIR, 'package.json'));

function resolvable(name: string): boolean {
  try {
    require.resolve(name);
    return true;
  } catch {
    return false;
  }
}

/** Why the SDK test cannot run here, or undefined when it can. */
export function sdkUnavailable(): string | undefined {
  if (!resolvable('playwright-core') || !resolvable('esbuild')) {
    return 'playwright-core or esbuild is not installed (run bin/setup)';
  }
  if (chromiumPath() === undefined) return 'no Chromium found (bin/setup installs it; or set OFTSR_CHROMIUM)';
  return undefined;
}

// Runs in the page (a string, so the test runner's transforms never touch it).
const PAGE_SCRIPT = `
window.runCloud = async ({ edgeUrl, sourceUrl, referenceUrl, t }) => {
  const sdk = await import('/sdk/index.js');
  const up = sdk.createUpscaler({
    model: '/models/oftsr-student-x4.json',
    cloud: { edge: edgeUrl },
    prefer: 'auto',
    workerUrl: '/sdk/worker.js',
    wasmPaths: '/sdk/ort/',
  });
  const caps = await up.capabilities();
  const result = await up.upscale(sourceUrl, { sr: 4, t, seed: 0, output: 'imageData' });
  const bitmap = await createImageBitmap(await (await fetch(referenceUrl)).blob(),
    { premultiplyAlpha: 'none', colorSpaceConversion: 'none' });
  const ctx = new OffscreenCanvas(bitmap.width, bitmap.height).getContext('2d', { willReadFrequently: true });
  ctx.drawImage(bitmap, 0, 0);
  const ref = ctx.getImageData(0, 0, bitmap.width, bitmap.height, { colorSpace: 'srgb' }).data;
  const got = result.image.data;
  let max = 0, sum = 0;
  for (let i = 0; i < got.length; i++) { const d = Math.abs(got[i] - ref[i]); sum += d; if (d > max) max = d; }
  await up.dispose();
  return {
    ranOn: result.ranOn, reason: result.reason, webgpu: caps.webgpu,
    width: result.width, height: result.height, refWidth: bitmap.width, refHeight: bitmap.height,
    maxAbsDiff: got.length === ref.length ? max : 255, meanAbsDiff: got.length === ref.length ? sum / got.length : 255,
  };
};`;

/** What the page reports back. */
export interface SdkRun {
  ranOn: string;
  reason: string;
  webgpu: boolean;
  width: number;
  height: number;
  refWidth: number;
  refHeight: number;
  maxAbsDiff: number;
  meanAbsDiff: number;
  /** Where the page was served from (not the edge's origin). */
  pageOrigin: string;
  /** The edge's answers to the page's requests, as the browser saw them. */
  edgeAnswers: { status: number; allowOrigin: string | null }[];
}

/**
 * In headless Chromium without WebGPU: `createUpscaler({ cloud: { edge } })`, then
 * `upscale('<edge>/<sample>', { sr: 4, t, output: 'imageData' })`, compared in the page with
 * `reference` (the runner's PNG for the same parameters) decoded by the same browser.
 */
export async function upscaleInChromium(options: {
  edgeUrl: string;
  sample: string;
  original: Uint8Array;
  t: number;
  reference: Uint8Array;
}): Promise<SdkRun> {
  const build = (await import(SDK_BUILD)) as { buildSdk(): Promise<string> };
  await build.buildSdk();
  const { startServer } = (await import(SDK_SERVE)) as {
    startServer(options: {
      mounts: Record<string, string>;
    }): Promise<{ url: string; close(): Promise<void> }>;
  };
  const browser = await launchChromium({ webgpu: false });
  const base = options.edgeUrl.replace(/\/$/, '');
  // The reference image sits beside the page, on the customer's site.
  const referenceDir = mkdtempSync(join(tmpdir(), 'oftsr-e2e-ref-'));
  writeFileSync(join(referenceDir, 'reference.png'), options.reference);
  const site = await startServer({ mounts: { '/e2e/': referenceDir } });
  const PAGE_ORIGIN = site.url;
  const logs: string[] = [];
  try {
    const page = await browser.newPage();
    page.on('console', (m) => logs.push(m.text()));
    page.on('pageerror', (e) => logs.push(String(e)));
    page.on('requestfailed', (r) => logs.push(`request failed: ${r.url()} ${r.failure()?.errorText ?? ''}`));
    // The bare CDN URL (no query) is the original image, as a site's CDN would serve it (public,
    // readable from any page); with a query the request goes to the real edge.
    await page.route(
      (url) => url.origin === base && url.pathname === `/${options.sample}` && url.search === '',
      (route) =>
        route.fulfill({
          contentType: 'image/png',
          headers: { 'access-control-allow-origin': '*' },
          body: Buffer.from(options.original),
        }),
    );
    const edgeAnswers: { status: number; allowOrigin: string | null }[] = [];
    page.on('response', (res) => {
      const url = new URL(res.url());
      if (url.origin === base && url.search !== '') {
        edgeAnswers.push({
          status: res.status(),
          allowOrigin: res.headers()['access-control-allow-origin'] ?? null,
        });
      }
    });
    await page.addInitScript(`
      Object.defineProperty(Navigator.prototype, 'gpu', { get: () => undefined, configurable: true });
      ${PAGE_SCRIPT}`);
    await page.goto(`${PAGE_ORIGIN}/blank.html`);
    const args = JSON.stringify({
      edgeUrl: base,
      sourceUrl: `${base}/${options.sample}`,
      referenceUrl: `${PAGE_ORIGIN}/e2e/reference.png`,
      t: options.t,
    });
    const run = (await page.evaluate(`window.runCloud(${args})`)) as Omit<
      SdkRun,
      'pageOrigin' | 'edgeAnswers'
    >;
    return { ...run, pageOrigin: PAGE_ORIGIN, edgeAnswers };
  } catch (err) {
    throw new Error(`${(err as Error).message}\nbrowser log:\n${logs.join('\n')}`, { cause: err });
  } finally {
    await browser.close();
    await site.close();
    rmSync(referenceDir, { recursive: true, force: true });
  }
}
