/**
 * The SDK as a package a stranger installs: `npm run build` gives JS and declarations that a project
 * outside this repository type-checks (tsc, bundler resolution, skipLibCheck off) and bundles
 * (esbuild) through package.json's `exports` alone.
 */
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildSdk, buildTypes } from '../scripts/build.ts';

const APP = fileURLToPath(new URL('..', import.meta.url));
const require = createRequire(import.meta.url);

const CONSUMER = `import { createUpscaler, DEFAULT_TILE_SIZES } from '@oftsr/client-sdk';
import type { UpscaleOptions, UpscaleResult } from '@oftsr/client-sdk';
const up = createUpscaler({ model: '/models/oftsr-student-x4.json', cloud: { edge: 'https://img.example.com' } });
const options: UpscaleOptions<'dataUrl'> = { sr: 4, t: 0.5, output: 'dataUrl' };
export const run = (file: Blob): Promise<UpscaleResult<'dataUrl'>> => up.upscale(file, options);
export const tiles: readonly number[] = DEFAULT_TILE_SIZES;
`;

describe('@oftsr/client-sdk as an installed package', () => {
  let dir: string;
  beforeAll(async () => {
    await buildSdk();
    buildTypes();
    dir = mkdtempSync(join(tmpdir(), 'oftsr-sdk-consumer-'));
    mkdirSync(join(dir, 'node_modules/@oftsr'), { recursive: true });
    symlinkSync(APP, join(dir, 'node_modules/@oftsr/client-sdk'), 'dir');
    writeFileSync(join(dir, 'main.ts'), CONSUMER);
    writeFileSync(
      join(dir, 'tsconfig.json'),
      JSON.stringify({
        compilerOptions: {
          target: 'ES2022',
          module: 'ESNext',
          moduleResolution: 'Bundler',
          lib: ['ES2022', 'DOM'],
          types: [],
          strict: true,
          noEmit: true,
          skipLibCheck: false,
        },
        files: ['main.ts'],
      }),
    );
  }, 120_000);
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('type-checks against the emitted declarations', () => {
    const tsc = require.resolve('typescript/bin/tsc');
    expect(() =>
      execFileSync(process.execPath, [tsc, '-p', dir], { encoding: 'utf8', stdio: 'pipe' }),
    ).not.toThrow();
  });

  it('bundles through the exports map', async () => {
    const out = await build({
      entryPoints: [join(dir, 'main.ts')],
      absWorkingDir: dir,
      bundle: true,
      write: false,
      format: 'esm',
      platform: 'browser',
      metafile: true,
      logLevel: 'silent',
    });
    const inputs = Object.keys(out.metafile.inputs);
    expect(inputs.some((p) => p.includes('client-sdk/dist/index.js'))).toBe(true);
    expect(inputs.some((p) => p.endsWith('.ts') && p.includes('client-sdk/src/'))).toBe(false);
  });
});
