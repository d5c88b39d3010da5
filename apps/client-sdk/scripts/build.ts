/**
 * Bundles the SDK and its worker for the browser (esbuild, ESM) into dist/, with onnxruntime-web's
 * WebGPU-build wasm files beside them (dist/ort/), and the demo page's script. No CDN at run time.
 * `buildTypes()` adds the type declarations (dist/types/, tsc) that package.json's `exports` names.
 * Usage: node apps/client-sdk/scripts/build.ts   (both; npm pack runs it as `prepack`)
 */
import { execFileSync } from 'node:child_process';
import { copyFileSync, mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, relative } from 'node:path';
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

/**
 * Writes the declarations of the SDK and of the @oftsr/shared it bundles under dist/types/ (tsc,
 * tsconfig.build.json), then points their imports at the emitted files: `./x.ts` becomes `./x.js` and
 * `@oftsr/shared` the relative path of its declarations, so a consumer needs neither our sources nor
 * our unpublished contract package.
 */
export function buildTypes(): string {
  const types = join(DIST, 'types');
  rmSync(types, { recursive: true, force: true });
  const tsc = require.resolve('typescript/bin/tsc');
  execFileSync(process.execPath, [tsc, '-p', join(APP, 'tsconfig.build.json')], { stdio: 'inherit' });
  const sharedIndex = join(types, 'packages/shared/src/index.js');
  for (const entry of readdirSync(types, { recursive: true, withFileTypes: true })) {
    if (!entry.isFile() || !entry.name.endsWith('.d.ts')) continue;
    const file = join(entry.parentPath, entry.name);
    let rel = relative(dirname(file), sharedIndex);
    if (!rel.startsWith('.')) rel = `./${rel}`;
    const text = readFileSync(file, 'utf8')
      .replace(/(from\s+'\.{1,2}\/[^']*)\.ts'/g, "$1.js'")
      .replace(/from\s+'@oftsr\/shared'/g, `from '${rel}'`);
    writeFileSync(file, text);
  }
  return join(types, 'apps/client-sdk/src/index.d.ts');
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const dist = await buildSdk();
  const types = buildTypes();
  console.log(`built ${dist} (types: ${types})`);
}
