/**
 * Browser-test harness: Debian's Chromium driven by playwright-core (never a downloaded browser),
 * with WebGPU on its SwiftShader adapter, pages served by scripts/serve.ts.
 */
import { existsSync } from 'node:fs';
import { chromium } from 'playwright-core';
import type { Browser } from 'playwright-core';

/** Where Debian's `chromium` package puts the browser (override: OFTSR_CHROMIUM). */
export const CHROMIUM = process.env.OFTSR_CHROMIUM ?? '/usr/bin/chromium';

/** Whether the browser is installed; the browser suites skip (with a message) when it is not. */
export const chromiumPresent = existsSync(CHROMIUM);

/** Flags every launch gets: root needs --no-sandbox; the network is closed, so nothing phones home. */
const BASE_ARGS = [
  '--no-sandbox',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--no-first-run',
  '--disable-dev-shm-usage',
];

/** Launches Chromium; `webgpu: true` adds --enable-unsafe-webgpu (SwiftShader adapter headless). */
export function launch(webgpu: boolean): Promise<Browser> {
  return chromium.launch({
    executablePath: CHROMIUM,
    args: [...BASE_ARGS, ...(webgpu ? ['--enable-unsafe-webgpu'] : ['--disable-unsafe-webgpu'])],
  });
}
