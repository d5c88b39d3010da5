/**
 * End to end: spawns the real CLI (`node src/cli/main.ts`, as bin/oftsr does) on small images.
 * Uses the shipped model when present, else the tiny test model.
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { defaultModelPath, loadModel, modelPaths } from '../inference/onnx-session.ts';
import { DEFAULT_TILE_SIZES } from '@oftsr/shared';
import { realModelPresent, tempDir, writePattern } from '../testing/fixtures.ts';
import { startRuntime, TEST_TOKEN } from '../testing/runtime.ts';
import { writeTinyModel } from '../testing/tiny-model.ts';

const MAIN = fileURLToPath(new URL('./main.ts', import.meta.url));
const { dir, cleanup } = tempDir('oftsr-cli-');
const real = realModelPresent();
let modelPath: string;

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

function oftsr(...args: string[]): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(
      process.execPath,
      [MAIN, ...args, ...(args[0] === '--help' || args[0] === '--version' ? [] : ['--model', modelPath])],
      {
        cwd: dir,
        env: { ...process.env, NO_COLOR: '1' },
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

function tempFiles(folder: string): string[] {
  return readdirSync(folder).filter((f) => f.endsWith('.oftsr-tmp'));
}

beforeAll(async () => {
  modelPath = real ? defaultModelPath() : writeTinyModel(dir).onnxPath;
  mkdirSync(join(dir, 'in'));
  await writePattern(join(dir, 'in', 'a.png'), 24, 16);
  await writePattern(join(dir, 'in', 'b.jpg'), 20, 12);
  writeFileSync(join(dir, 'in', 'notes.txt'), 'not an image');
});
afterAll(cleanup);

describe('oftsr upscale', () => {
  it('file → file, format from the output extension', async () => {
    const r = await oftsr('upscale', 'in/a.png', '-o', 'one.webp', '--t', '0.7', '--seed', '3');
    expect(r.stderr).not.toMatch(/^error/m);
    expect(r.code).toBe(0);
    const meta = await sharp(join(dir, 'one.webp')).metadata();
    expect([meta.format, meta.width, meta.height]).toEqual(['webp', 96, 64]);
    expect(r.stdout).toMatch(/in\/a\.png -> one\.webp \(24x16 -> 96x64/);
    expect(r.stdout).toMatch(/done: 1 written \(sr=4 t=0\.7 seed=3, cpu\)/);
  });

  it('folder → folder: same base names, non-images skipped with a note', async () => {
    const r = await oftsr('upscale', 'in', '-o', 'out', '--sr', '2');
    expect(r.code).toBe(0);
    expect(readdirSync(join(dir, 'out')).sort()).toEqual(['a.png', 'b.jpg']);
    expect((await sharp(join(dir, 'out', 'a.png')).metadata()).width).toBe(48);
    expect((await sharp(join(dir, 'out', 'b.jpg')).metadata()).format).toBe('jpeg');
    expect(r.stdout).toMatch(/skipped in\/notes\.txt: not an image file/);
  });

  it('a bad --t exits non-zero naming t, before writing anything', async () => {
    const r = await oftsr('upscale', 'in/a.png', '-o', 'bad-t.png', '--t', '1.5');
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/error: t must be a number in \[0, 1\] \(got "1\.5"\)/);
    expect(existsSync(join(dir, 'bad-t.png'))).toBe(false);
  });

  it('an unknown --format exits non-zero naming format', async () => {
    const r = await oftsr('upscale', 'in/a.png', '-o', 'fmt', '--format', 'gif');
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/format must be one of/);
  });

  it('bad files fail clearly, good ones are still written, nothing is half-written', async () => {
    mkdirSync(join(dir, 'mixed'));
    await writePattern(join(dir, 'mixed', 'good.png'), 16, 16);
    const png = readFileSync(join(dir, 'in', 'a.png'));
    writeFileSync(join(dir, 'mixed', 'cut.png'), png.subarray(0, Math.floor(png.length / 2)));
    writeFileSync(join(dir, 'mixed', 'empty.png'), '');
    writeFileSync(join(dir, 'mixed', 'fake.jpg'), 'plain text, not a JPEG');
    // A folder where the output file should go makes the final rename fail.
    mkdirSync(join(dir, 'mixed-out', 'blocked.png'), { recursive: true });
    await writePattern(join(dir, 'mixed', 'blocked.png'), 16, 16);
    const r = await oftsr('upscale', 'mixed', '-o', 'mixed-out');
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/cut\.png: cannot decode image/);
    expect(r.stderr).toMatch(/empty\.png: empty file/);
    expect(r.stderr).toMatch(/fake\.jpg: not a supported image/);
    expect(r.stderr).toMatch(/error: mixed\/blocked\.png: /); // the input, even when the write failed
    expect(readdirSync(join(dir, 'mixed-out')).sort()).toEqual(['blocked.png', 'good.png']);
    expect(tempFiles(join(dir, 'mixed-out'))).toEqual([]);
    expect(r.stdout).toMatch(/done: 1 written, 4 failed/);
  });

  it('rejects images over the pixel limit from the header', async () => {
    await writePattern(join(dir, 'wide.png'), 64, 64);
    const r = await oftsr('upscale', 'wide.png', '-o', 'wide-out.png', '--max-pixels', '1000');
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/wide\.png: 64×64 = 0\.0 MP exceeds the input limit.*--max-pixels/);
    expect(existsSync(join(dir, 'wide-out.png'))).toBe(false);
  });

  it('creates a missing output folder, refuses to overwrite without --overwrite (naming the input)', async () => {
    const first = await oftsr('upscale', 'in/a.png', '-o', 'new/deeper/a-x4.png');
    expect(first.stderr).not.toMatch(/^error/m);
    expect(first.code).toBe(0);
    expect(existsSync(join(dir, 'new/deeper/a-x4.png'))).toBe(true);
    const again = await oftsr('upscale', 'in/a.png', '-o', 'new/deeper/a-x4.png');
    expect(again.code).toBe(1);
    expect(again.stderr).toMatch(/error: in\/a\.png: output new\/deeper\/a-x4\.png exists \(add --overwrite/);
    const forced = await oftsr('upscale', 'in/a.png', '-o', 'new/deeper/a-x4.png', '--overwrite');
    expect(forced.code).toBe(0);
  });

  it('one exit code per kind of failure: 2 usage (-o x.bmp), 3 the model', async () => {
    const bmp = await oftsr('upscale', 'in/a.png', '-o', 'x.bmp');
    expect(bmp.code).toBe(2);
    expect(bmp.stderr).toMatch(/-o x\.bmp: cannot write \.bmp images/);
    expect(existsSync(join(dir, 'x.bmp'))).toBe(false);
    const child = spawn(process.execPath, [MAIN, 'info', '--model', join(dir, 'nope.onnx')], { cwd: dir });
    const code = await new Promise<number | null>((r) => child.on('close', r));
    expect(code).toBe(3);
  });

  it('--version prints the package version', async () => {
    const r = await oftsr('--version');
    expect(r.code).toBe(0);
    expect(r.stdout.trim()).toMatch(/^\d+\.\d+\.\d+$/);
  });

  it("writes the service's pixels: same tiles and padding as POST /v1/upscale with the default tile sizes", async () => {
    const input = join(dir, 'same.png');
    await writePattern(input, 40, 24); // smaller than its 64² tile: the padding decides its borders
    const cli = await oftsr('upscale', input, '-o', join(dir, 'same-x4.png'), '--t', '0.7', '--seed', '5');
    expect(cli.code, cli.stderr).toBe(0);
    const runtime = await startRuntime({
      OFTSR_MODEL: modelPath,
      OFTSR_TILE_SIZES: DEFAULT_TILE_SIZES.join(','),
    });
    try {
      const res = await runtime.app.request('http://runner/v1/upscale?t=0.7&seed=5&format=png', {
        method: 'POST',
        body: readFileSync(input),
        headers: { 'content-type': 'image/png', authorization: `Bearer ${TEST_TOKEN}` },
      });
      expect(res.status).toBe(200);
      const [a, b] = await Promise.all([
        sharp(join(dir, 'same-x4.png')).raw().toBuffer(),
        sharp(Buffer.from(await res.arrayBuffer()))
          .raw()
          .toBuffer(),
      ]);
      expect(a.length).toBe(b.length);
      let max = 0;
      for (let i = 0; i < a.length; i++) max = Math.max(max, Math.abs((a[i] ?? 0) - (b[i] ?? 0)));
      expect(max).toBe(0);
    } finally {
      await runtime.close();
    }
  });

  it('reports a missing input', async () => {
    const r = await oftsr('upscale', 'missing.png', '-o', 'x.png');
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/missing\.png: no such file or folder/);
  });
});

describe('oftsr info', () => {
  it('prints the manifest metadata and the provider in use', async () => {
    const r = await oftsr('info');
    expect(r.code).toBe(0);
    const manifest = JSON.parse(readFileSync(modelPaths(modelPath).manifest, 'utf8')) as Record<
      string,
      unknown
    >;
    for (const key of ['name', 'version', 'trained', 'scale', 'sigma_p', 'alignment', 'margin', 'tile']) {
      expect(r.stdout).toMatch(new RegExp(`^${key} +${String(manifest[key])}$`, 'm'));
    }
    expect(r.stdout).toMatch(/^provider +cpu$/m);
    expect(r.stderr.includes('UNTRAINED')).toBe(manifest.trained === false);
  });

  it('--json prints the same as JSON', async () => {
    const r = await oftsr('info', '--json');
    const info = JSON.parse(r.stdout) as Record<string, unknown>;
    expect(info.provider).toBe('cpu');
    expect(info.scale).toBe(4);
  });

  it('refuses CUDA without fallback instead of running on CPU', async () => {
    const r = await oftsr('info', '--provider', 'cuda');
    // Whether CUDA loads here is asked of onnxruntime directly: with CUDA the CLI must say cuda, without
    // it the CLI must fail loudly (exit 3), never run on the CPU instead.
    const cuda = await loadModel({ modelPath, providers: ['cuda'] }).then(
      async (m) => (await m.session.release(), true),
      () => false,
    );
    if (cuda) {
      expect(r.code).toBe(0);
      expect(r.stdout).toMatch(/^provider +cuda$/m);
    } else {
      expect(r.code).toBe(3);
      expect(r.stderr).toMatch(/error: cannot create an onnxruntime session \(cuda: /);
      expect(r.stdout).not.toMatch(/^provider +cpu$/m);
    }
  });

  it('--help lists the commands', async () => {
    const r = await oftsr('--help');
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/upscale \[options\] <inputs\.\.\.>/);
    expect(r.stdout).toMatch(/info \[options\]/);
  });
});
