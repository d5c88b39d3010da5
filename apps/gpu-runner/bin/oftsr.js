#!/usr/bin/env node
// npm's `oftsr` command: the TypeScript source in this repository (Node >= 22.18 strips the types),
// the bundle of scripts/build-cli.ts in an installed package (which ships dist/, not src/).
import { existsSync } from 'node:fs';

const source = new URL('../src/cli/main.ts', import.meta.url);
await import(existsSync(source) ? source.href : new URL('../dist/oftsr.js', import.meta.url).href);
