import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { resolveTargets } from './targets.ts';
import { tempDir } from '../testing/fixtures.ts';

let dir: string;
let cleanup: () => void;
beforeEach(() => {
  ({ dir, cleanup } = tempDir());
  mkdirSync(join(dir, 'in'));
  for (const name of ['b.jpg', 'a.png', 'notes.txt', 'c.tiff']) writeFileSync(join(dir, 'in', name), 'x');
  mkdirSync(join(dir, 'in', 'sub'));
});
afterEach(() => cleanup());

describe('resolveTargets', () => {
  it('one file and an image extension: -o is the file, format from its extension', async () => {
    const t = await resolveTargets([join(dir, 'in', 'a.png')], join(dir, 'out.webp'), 'auto');
    expect(t.outputIsFile).toBe(true);
    expect(t.jobs).toEqual([
      { input: join(dir, 'in', 'a.png'), output: join(dir, 'out.webp'), format: 'webp' },
    ]);
  });

  it('refuses a --format that contradicts the output extension', async () => {
    await expect(resolveTargets([join(dir, 'in', 'a.png')], join(dir, 'out.webp'), 'jpeg')).rejects.toThrow(
      /--format jpeg does not match/,
    );
  });

  it('a folder in gives a folder out: same base names, extension by format, non-images skipped', async () => {
    const t = await resolveTargets([join(dir, 'in')], join(dir, 'out'), 'auto');
    expect(t.outputIsFile).toBe(false);
    expect(t.jobs.map((j) => [j.output.slice(dir.length + 1), j.format])).toEqual([
      ['out/a.png', 'png'],
      ['out/b.jpg', 'jpeg'],
      ['out/c.png', 'png'],
    ]);
    expect(t.skipped.map((s) => s.path.slice(dir.length + 1)).sort()).toEqual(['in/notes.txt', 'in/sub']);
  });

  it('an explicit format sets every extension, and name clashes are reported', async () => {
    const t = await resolveTargets([join(dir, 'in')], join(dir, 'out'), 'avif');
    expect(t.jobs.map((j) => j.output.slice(dir.length + 1))).toEqual([
      'out/a.avif',
      'out/b.avif',
      'out/c.avif',
    ]);
    writeFileSync(join(dir, 'in', 'a.jpg'), 'x');
    const clash = await resolveTargets([join(dir, 'in')], join(dir, 'out'), 'png');
    expect(clash.failed).toHaveLength(1);
    expect(clash.failed[0]?.reason).toMatch(/already written from/);
  });

  it('one file and a path without an image extension: -o is a folder', async () => {
    const t = await resolveTargets([join(dir, 'in', 'b.jpg')], join(dir, 'results'), 'png');
    expect(t.jobs[0]?.output).toBe(join(dir, 'results', 'b.png'));
  });

  it('reports missing inputs and refuses a file as the output folder', async () => {
    const t = await resolveTargets([join(dir, 'nope.png'), join(dir, 'in', 'a.png')], join(dir, 'o'), 'auto');
    expect(t.failed).toEqual([{ path: join(dir, 'nope.png'), reason: 'no such file or folder' }]);
    writeFileSync(join(dir, 'file'), 'x');
    await expect(resolveTargets([join(dir, 'in')], join(dir, 'file'), 'auto')).rejects.toThrow(
      /must be a folder/,
    );
  });

  it('never overwrites an input', async () => {
    const t = await resolveTargets([join(dir, 'in')], join(dir, 'in'), 'auto');
    // c.tiff becomes c.png beside it; a.png and b.jpg would replace themselves.
    expect(t.jobs.map((j) => j.output)).toEqual([join(dir, 'in', 'c.png')]);
    expect(t.failed.map((f) => f.reason)).toEqual([
      'output would overwrite the input',
      'output would overwrite the input',
    ]);
  });
});
