/**
 * Builds the installable `oftsr` CLI: one ESM file, dist/oftsr.js (esbuild; @oftsr/shared inlined,
 * every npm dependency left to npm), and the shipped model copied into models/ beside it, so
 * `npm pack -w @oftsr/gpu-runner` gives a tarball that `npm install -g` turns into a working `oftsr`.
 * Run: `npm run build -w @oftsr/gpu-runner` (npm pack runs it as `prepack`).
 */
import { copyFileSync, mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import { DEFAULT_MODEL_NAME } from '../src/inference/onnx-session.ts';

const APP = fileURLToPath(new URL('..', import.meta.url));
const REPO_MODELS = fileURLToPath(new URL('../../../models/', import.meta.url));

/** Builds dist/oftsr.js and models/; returns the path of the CLI file. */
export async function buildCli(): Promise<string> {
  const pkg = JSON.parse(readFileSync(join(APP, 'package.json'), 'utf8')) as {
    dependencies: Record<string, string>;
  };
  const out = join(APP, 'dist/oftsr.js');
  await build({
    entryPoints: [join(APP, 'src/cli/main.ts')],
    outfile: out,
    bundle: true,
    format: 'esm',
    platform: 'node',
    target: 'node22',
    external: Object.keys(pkg.dependencies),
    logLevel: 'warning',
  });
  mkdirSync(join(APP, 'models'), { recursive: true });
  for (const ext of ['.onnx', '.json']) {
    copyFileSync(join(REPO_MODELS, DEFAULT_MODEL_NAME + ext), join(APP, 'models', DEFAULT_MODEL_NAME + ext));
  }
  return out;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  console.log(`built ${await buildCli()}`);
}
