/**
 * The CLI as an installed npm package: scripts/build-cli.ts's bundle, laid out as `npm pack` ships it
 * (bin/, dist/, models/, package.json; no src/) in a folder outside the repository, runs `oftsr` with
 * its own copy of the model.
 */
import { execFile } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, symlinkSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { fileURLToPath } from 'node:url';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildCli } from '../../scripts/build-cli.ts';
import { tempDir } from '../testing/fixtures.ts';

const run = promisify(execFile);
const APP = fileURLToPath(new URL('../..', import.meta.url));
const REPO_NODE_MODULES = fileURLToPath(new URL('../../../../node_modules', import.meta.url));
const { dir, cleanup } = tempDir('oftsr-cli-pkg-');
const pkg = join(dir, 'oftsr-gpu-runner');

describe('the oftsr npm bin', () => {
  beforeAll(async () => {
    await buildCli();
    mkdirSync(pkg, { recursive: true });
    for (const f of ['bin', 'dist', 'models', 'package.json']) {
      cpSync(join(APP, f), join(pkg, f), { recursive: true });
    }
    // The package's npm dependencies, where Node looks for them from the package (they would be
    // installed beside it).
    symlinkSync(REPO_NODE_MODULES, join(dir, 'node_modules'), 'dir');
  }, 120_000);
  afterAll(cleanup);

  it('upscales with the model it ships, without the sources', async () => {
    expect(existsSync(join(pkg, 'src'))).toBe(false);
    const input = join(dir, 'in.png');
    await sharp({ create: { width: 24, height: 16, channels: 3, background: '#3080c0' } })
      .png()
      .toFile(input);
    const { stdout } = await run(
      process.execPath,
      [join(pkg, 'bin/oftsr.js'), 'upscale', input, '-o', join(dir, 'out.png')],
      {
        cwd: dir,
      },
    );
    expect(stdout).toContain('24x16 -> 96x64');
    const meta = await sharp(join(dir, 'out.png')).metadata();
    expect([meta.width, meta.height]).toEqual([96, 64]);
  });
});
