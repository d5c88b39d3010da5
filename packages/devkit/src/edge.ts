/** The edge Worker under `wrangler dev --local` (real workerd) as a child process on loopback. */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort, waitForUrl } from './net.ts';
import { MODEL_VERSION, RUNNER_TOKEN, WRANGLER_ENTRY } from './paths.ts';
import { cleanup, spawnGroup, stop, type Child } from './processes.ts';

/** A running `wrangler dev`. */
export interface Edge extends Child {
  url: string;
  /** The temp dir holding its local R2 and Cache API state (remove with `cleanup`). */
  persistDir: string;
}

/** Starts `wrangler dev --local` on the root wrangler.toml (env dev), pointed at origin and runner. */
export async function startEdge(options: {
  originUrl: string;
  runnerUrl: string;
  runnerToken?: string;
  port?: number;
  vars?: Record<string, string>;
  readyTimeoutMs?: number;
  /** wrangler's `--log-level` (default `warn`); `log` keeps the Worker's own `console.log` lines in `log()`. */
  logLevel?: 'warn' | 'info' | 'log';
}): Promise<Edge> {
  const port = options.port ?? (await freePort());
  const persistDir = mkdtempSync(join(tmpdir(), 'oftsr-edge-'));
  const vars: Record<string, string> = {
    MODEL_VERSION,
    ORIGIN_URL: options.originUrl,
    RUNNER_URL: options.runnerUrl,
    RUNNER_TOKEN: options.runnerToken ?? RUNNER_TOKEN,
    ALLOW_PRIVATE_ORIGINS: 'true',
    ...options.vars,
  };
  const args = [
    WRANGLER_ENTRY,
    'dev',
    '--config',
    'wrangler.toml',
    '--env',
    'dev',
    '--local',
    '--ip',
    '127.0.0.1',
    '--port',
    String(port),
    '--inspector-port',
    String(await freePort()),
    '--persist-to',
    persistDir,
    '--show-interactive-dev-session=false',
    '--log-level',
    options.logLevel ?? 'warn',
    ...Object.entries(vars).flatMap(([k, v]) => ['--var', `${k}:${v}`]),
  ];
  const child = spawnGroup(process.execPath, args, {
    ...process.env,
    WRANGLER_SEND_METRICS: 'false',
    WRANGLER_LOG_PATH: join(persistDir, 'logs'),
    CI: '1',
  });
  const url = `http://127.0.0.1:${port}`;
  try {
    await waitForUrl(`${url}/healthz`, options.readyTimeoutMs ?? 180_000, child);
  } catch (err) {
    await stop(child.proc);
    cleanup(persistDir);
    throw err;
  }
  return { ...child, url, persistDir };
}
