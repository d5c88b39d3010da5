import { mkdirSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { tempPathFor, writeFileAtomic } from './atomic-write.ts';
import { tempDir } from '../testing/fixtures.ts';

const { dir, cleanup } = tempDir();
afterAll(cleanup);

describe('writeFileAtomic', () => {
  it('writes through a temp file in the same folder', async () => {
    expect(tempPathFor(join(dir, 'a.png'))).toMatch(new RegExp(`^${dir}/\\.a\\.png\\..*\\.oftsr-tmp$`));
    await writeFileAtomic(join(dir, 'a.png'), Buffer.from('data'));
    expect(readFileSync(join(dir, 'a.png'), 'utf8')).toBe('data');
    expect(readdirSync(dir)).toEqual(['a.png']);
  });

  it('leaves nothing behind when the rename fails', async () => {
    const sub = join(dir, 'sub');
    mkdirSync(join(sub, 'taken.png'), { recursive: true });
    await expect(writeFileAtomic(join(sub, 'taken.png'), Buffer.from('x'))).rejects.toThrow();
    expect(readdirSync(sub)).toEqual(['taken.png']);
  });
});
