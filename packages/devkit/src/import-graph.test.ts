/**
 * No import circle anywhere in the repository's TypeScript (apps, packages, scripts, bench, e2e),
 * type-only imports included: the same check as `npx madge --circular --extensions ts apps packages
 * scripts bench e2e`, without the dependency. Relative imports and the workspace packages count.
 */
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ROOT } from './paths.ts';

const ROOTS = ['apps', 'packages', 'scripts', 'bench', 'e2e'];
const SKIP = new Set(['node_modules', 'dist', '.git', 'test-output', 'coverage']);
const WORKSPACE: Record<string, string> = {
  '@oftsr/shared': 'packages/shared/src/index.ts',
  '@oftsr/devkit': 'packages/devkit/src/index.ts',
};

function tsFiles(dir: string, out: string[] = []): string[] {
  if (!existsSync(dir)) return out;
  for (const name of readdirSync(dir)) {
    if (SKIP.has(name)) continue;
    const path = join(dir, name);
    if (statSync(path).isDirectory()) tsFiles(path, out);
    else if (name.endsWith('.ts') && !name.endsWith('.d.ts')) out.push(path);
  }
  return out;
}

const SPECIFIERS = [
  /(?:^|[;\s])(?:import|export)\s[^;]*?\sfrom\s*['"]([^'"]+)['"]/g,
  /(?:^|[;\s])import\s*['"]([^'"]+)['"]/g,
  /\bimport\(\s*['"]([^'"]+)['"]\s*\)/g,
];

/** The repository's files this file imports (relative or workspace imports that resolve to a file). */
function importsOf(file: string): string[] {
  const text = readFileSync(file, 'utf8')
    .replace(/\/\*[\s\S]*?\*\//g, '')
    .replace(/^\s*\/\/.*$/gm, '');
  const out = new Set<string>();
  for (const re of SPECIFIERS) {
    for (const m of text.matchAll(re)) {
      const spec = m[1] as string;
      const target = spec.startsWith('.')
        ? resolve(dirname(file), spec)
        : WORKSPACE[spec] === undefined
          ? undefined
          : join(ROOT, WORKSPACE[spec]);
      if (target !== undefined && target.endsWith('.ts') && existsSync(target)) out.add(target);
    }
  }
  return [...out];
}

/** Every import circle, each as the files along it (one rotation per circle). */
function importCircles(files: readonly string[]): string[][] {
  const graph = new Map(files.map((f) => [f, importsOf(f)]));
  const circles = new Map<string, string[]>();
  const state = new Map<string, 'open' | 'done'>();
  const stack: string[] = [];
  const visit = (file: string): void => {
    state.set(file, 'open');
    stack.push(file);
    for (const next of graph.get(file) ?? importsOf(file)) {
      if (state.get(next) === 'open') {
        const circle = stack.slice(stack.indexOf(next)).map((f) => relative(ROOT, f));
        circles.set([...circle].sort().join(' '), circle);
      } else if (!state.has(next)) visit(next);
    }
    stack.pop();
    state.set(file, 'done');
  };
  for (const file of files) if (!state.has(file)) visit(file);
  return [...circles.values()];
}

describe('the import graph', () => {
  it('has no circle (type-only imports included)', () => {
    const files = ROOTS.flatMap((r) => tsFiles(join(ROOT, r)));
    expect(files.length).toBeGreaterThan(100);
    expect(importCircles(files).map((c) => c.join(' → '))).toEqual([]);
  });
});
