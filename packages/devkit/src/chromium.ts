/**
 * Headless Chromium for the browser tests, e2e/ and bench/sdk: Debian's package (bin/setup installs
 * it; never a downloaded browser) driven by playwright-core, with one set of flags.
 */
import { existsSync } from 'node:fs';
import type { Browser } from 'playwright-core';

/** The browser: OFTSR_CHROMIUM, else Debian's `chromium` (or `chromium-browser`); undefined when none is installed. */
export function chromiumPath(): string | undefined {
  const candidates = [process.env.OFTSR_CHROMIUM, '/usr/bin/chromium', '/usr/bin/chromium-browser'];
  return candidates.find((p): p is string => p !== undefined && p !== '' && existsSync(p));
}

/** Flags every launch gets: root needs --no-sandbox; the network is closed, so nothing phones home. */
const BASE_ARGS = [
  '--no-sandbox',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--no-first-run',
  '--disable-dev-shm-usage',
];

/**
 * Launches Chromium headless; `webgpu: true` adds --enable-unsafe-webgpu (SwiftShader's adapter
 * when headless), `false` --disable-unsafe-webgpu.
 */
export async function launchChromium(options: { webgpu: boolean }): Promise<Browser> {
  const executablePath = chromiumPath();
  if (executablePath === undefined) {
    throw new Error('no Chromium found (bin/setup installs it; or set OFTSR_CHROMIUM)');
  }
  // Imported here, so that what needs no browser does not load playwright.
  const { chromium } = await import('playwright-core');
  return chromium.launch({
    executablePath,
    args: [...BASE_ARGS, options.webgpu ? '--enable-unsafe-webgpu' : '--disable-unsafe-webgpu'],
  });
}
