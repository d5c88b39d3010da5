/**
 * Bundles the SDK and its worker for the browser (esbuild, ESM) into dist/, with onnxruntime-web's
 * WebGPU-build wasm files beside them (dist/ort/), and the demo page's script. No CDN at run time.
 * Usage: node apps/client-sdk/scripts/build.ts
 */
import { copyFileSync, mkdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const APP = fileURLToPath(new URL('..', import.meta.url));
const DIST = join(APP, 'dist');
const require = createRequire(import.meta.url);
const ORT_DIST = dirname(require.resolve('onnxruntime-web/webgpu'));

/** The onnxruntime-web files the WebGPU bundle loads at run time. */
export const ORT_FILES = ['ort-wasm-simd-threaded.asyncify.wasm', 'ort-wasm-simd-threaded.asyncify.mjs'];

/** Builds dist/; returns its path. */
export async function buildSdk(): Promise<string> {
  mkdirSync(join(DIST, 'ort'), { recursive: true });
  await build({
    entryPoints: {
      index: join(APP, 'src/index.ts'),
      worker: join(APP, 'src/worker.ts'),
      demo: join(APP, 'demo/demo.ts'),
    },
    outdir: DIST,
    bundle: true,
    format: 'esm',
    platform: 'browser',
    target: 'es2022',
    sourcemap: true,
    logLevel: 'warning',
  });
  for (const f of ORT_FILES) copyFileSync(join(ORT_DIST, f), join(DIST, 'ort', f));
  return DIST;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const dist = await buildSdk();
  console.log(`built ${dist}`);
}
