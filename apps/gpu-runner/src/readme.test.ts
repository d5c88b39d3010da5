/**
 * The README's file table names every source file under src/ (tests excepted: they sit beside the
 * file they test), and names no file that is gone.
 */
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const APP = fileURLToPath(new URL('..', import.meta.url));

function sources(dir: string, out: string[] = []): string[] {
  for (const name of readdirSync(dir)) {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) sources(path, out);
    else if (name.endsWith('.ts') && !name.endsWith('.test.ts')) out.push(relative(APP, path));
  }
  return out;
}

describe('README.md', () => {
  const readme = readFileSync(join(APP, 'README.md'), 'utf8');
  const named = new Set([...readme.matchAll(/`(src\/[\w./-]+\.ts)`/g)].map((m) => m[1] as string));

  it('names every source file under src/', () => {
    expect(sources(join(APP, 'src')).filter((f) => !named.has(f))).toEqual([]);
  });

  it('names no file that does not exist', () => {
    expect([...named].filter((f) => !existsSync(join(APP, f)))).toEqual([]);
  });
});
