/**
 * bench/sdk: the SDK's device paths in headless Chromium on this machine — WebGPU (SwiftShader: a CPU
 * emulation of a GPU, NOT a GPU figure) and onnxruntime-web's wasm provider — beside UpscalerJS
 * esrgan-slim/-medium (tfjs) in the same browser on the same image. Writes results.json and RESULTS.md.
 * Usage: npm run bench:sdk   (installs the UpscalerJS peers into bench/sdk/node_modules on first run)
 */
import { execFileSync } from 'node:child_process';
import { existsSync, writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import { buildSdk } from '../../apps/client-sdk/scripts/build.ts';
import { startServer } from '../../apps/client-sdk/scripts/serve.ts';
import { chromiumPath, launchChromium } from '@oftsr/devkit';

const HERE = fileURLToPath(new URL('.', import.meta.url));
const LR = 64; // one 64² tile: the SDK's smallest fixed shape
const RUNS = 2;

function peersReady(): string | undefined {
  if (!existsSync(join(HERE, 'node_modules/upscaler'))) {
    try {
      execFileSync('npm', ['install', '--no-audit', '--no-fund', '--ignore-scripts', '--no-package-lock'], {
        cwd: HERE,
        stdio: 'inherit',
        timeout: 300_000,
      });
    } catch (err) {
      return `npm install of the UpscalerJS peers failed: ${String(err)}`;
    }
  }
  return undefined;
}

await buildSdk();
const peersError = peersReady();
if (!peersError) {
  await build({
    entryPoints: [join(HERE, 'peers.ts')],
    outfile: join(HERE, 'node_modules/.bench/peers.js'),
    bundle: true,
    format: 'esm',
    platform: 'browser',
    logLevel: 'error',
  });
}
const server = await startServer({ mounts: { '/peers/': join(HERE, 'node_modules') } });
const results: Record<string, unknown>[] = [];
const HELPERS = `window.pattern = (w, h) => { const px = new Uint8ClampedArray(w * h * 4);
  for (let i = 0; i < w * h; i++) { const x = i % w, y = (i / w) | 0; px[4*i] = x * 255 / w; px[4*i+1] = ((x - w/2)**2 + (y - h/2)**2 < (h/3)**2) ? 230 : y * 255 / h; px[4*i+2] = x % 4 < 2 ? 40 : 200; px[4*i+3] = 255; }
  return new ImageData(px, w, h); };
  window.sdk = () => import('/sdk/index.js'); window.peersLib = () => import('/peers/.bench/peers.js');`;

for (const [label, webgpu] of [
  ['webgpu (SwiftShader, CPU emulation)', true],
  ['wasm', false],
] as const) {
  const browser = await launchChromium({ webgpu });
  const page = await browser.newPage();
  await page.addInitScript(HELPERS);
  await page.goto(`${server.url}/blank.html`);
  const r = (await page.evaluate(
    `(async () => {
      const { createUpscaler } = await window.sdk();
      const up = createUpscaler({ model: '/models/oftsr-student-x4.json', prefer: 'device' });
      const w0 = performance.now(); await up.warmup(); const warmupMs = performance.now() - w0;
      const times = [];
      let ranOn;
      for (let i = 0; i < ${RUNS}; i++) {
        const res = await up.upscale(window.pattern(${LR}, ${LR}), { output: 'imageData', seed: i });
        times.push(res.timings.inferMs); ranOn = res.ranOn;
      }
      const caps = await up.capabilities();
      await up.dispose();
      return { ranOn, warmupMs, times, adapter: caps.adapter };
    })()`,
  )) as { ranOn: string; warmupMs: number; times: number[]; adapter: unknown };
  const best = Math.min(...r.times);
  results.push({
    engine: `oftsr student, onnxruntime-web ${label}`,
    ranOn: r.ranOn,
    lr: `${LR}x${LR}`,
    tiles: 1,
    msPerTile: Math.round(best),
    msPerOutputMP: Math.round(best / ((LR * 4) ** 2 / 1e6)),
    warmupMs: Math.round(r.warmupMs),
    runsMs: r.times.map(Math.round),
    adapter: r.adapter,
  });
  if (!webgpu && !peersError) {
    for (const name of ['esrgan-slim', 'esrgan-medium']) {
      try {
        const p = (await page.evaluate(
          `(async () => { const { } = await window.peersLib(); return globalThis.peers.run('${name}', window.pattern(${LR}, ${LR}), ${LR}); })()`,
        )) as { backend: string; ms: number };
        results.push({
          engine: `UpscalerJS ${name} x4, tfjs ${p.backend}`,
          lr: `${LR}x${LR}`,
          msPerImage: Math.round(p.ms),
          msPerOutputMP: Math.round(p.ms / ((LR * 4) ** 2 / 1e6)),
        });
      } catch (err) {
        results.push({ engine: `UpscalerJS ${name} x4`, error: String(err).slice(0, 300) });
      }
    }
  }
  await browser.close();
}
await server.close();

const meta = {
  date: new Date().toISOString(),
  cpus: cpus().length,
  cpu: cpus()[0]?.model,
  chromium: chromiumPath(),
  lr: LR,
  runs: RUNS,
  peersError,
};
writeFileSync(join(HERE, 'results.json'), `${JSON.stringify({ meta, results }, null, 2)}\n`);
console.log(JSON.stringify({ meta, results }, null, 2));
