/** The edge Worker under `wrangler dev --local` (real workerd) as a child process on loopback. */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort, waitForUrl } from './net.ts';
import { MODEL_VERSION, RUNNER_TOKEN, WRANGLER_ENTRY } from './paths.ts';
import { cleanup, spawnGroup, stop, type Child } from './processes.ts';
import { startRunner, type Runner } from './runner.ts';

/** A running `wrangler dev`. */
export interface Edge extends Child {
  url: string;
  /** The temp dir holding its local R2 and Cache API state (remove with `cleanup`). */
  persistDir: string;
}

/** What {@link startEdge} takes. */
export interface EdgeOptions {
  originUrl: string;
  runnerUrl: string;
  runnerToken?: string;
  port?: number;
  vars?: Record<string, string>;
  readyTimeoutMs?: number;
  /** wrangler's `--log-level` (default `warn`); `log` keeps the Worker's own `console.log` lines in `log()`. */
  logLevel?: 'warn' | 'info' | 'log';
}

/** Starts `wrangler dev --local` on the root wrangler.toml (env dev), pointed at origin and runner. */
export async function startEdge(options: EdgeOptions): Promise<Edge> {
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

/**
 * Starts a runner and an edge pointed at it side by side (each takes seconds to get ready). The
 * edge's `runnerUrl` defaults to the runner's (a test may put a proxy between them). If either
 * fails, the other is stopped and the first failure is thrown.
 */
export async function startRunnerAndEdge(options: {
  runner?: Parameters<typeof startRunner>[0];
  edge: Omit<EdgeOptions, 'runnerUrl'> & { runnerUrl?: string };
  onReady?: (what: 'runner' | 'edge', url: string) => void;
}): Promise<{ runner: Runner; edge: Edge }> {
  const port = options.runner?.port ?? (await freePort());
  const ready =
    <T extends { url: string }>(what: 'runner' | 'edge') =>
    (child: T): T => {
      options.onReady?.(what, child.url);
      return child;
    };
  const [runner, edge] = await Promise.allSettled([
    startRunner({ ...options.runner, port }).then(ready('runner')),
    startEdge({ ...options.edge, runnerUrl: options.edge.runnerUrl ?? `http://127.0.0.1:${port}` }).then(
      ready('edge'),
    ),
  ]);
  if (runner.status === 'fulfilled' && edge.status === 'fulfilled') {
    return { runner: runner.value, edge: edge.value };
  }
  await Promise.all([
    runner.status === 'fulfilled' ? runner.value.stop() : undefined,
    edge.status === 'fulfilled' ? stop(edge.value.proc) : undefined,
  ]);
  if (edge.status === 'fulfilled') cleanup(edge.value.persistDir);
  throw runner.status === 'rejected' ? runner.reason : (edge as PromiseRejectedResult).reason;
}
