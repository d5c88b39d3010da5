// A local stack for end-to-end tests and benchmarks, all on 127.0.0.1: an origin (node:http
// serving samples/), the real runner (`node apps/gpu-runner/src/index.ts`) and the edge under
// `wrangler dev --local` with its R2 persisted in a temp dir. Nothing leaves the machine.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { createServer as createNetServer } from 'node:net';
import { tmpdir } from 'node:os';
import { extname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The repository root. */
export const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
/** The runner's entry point; the e2e tests skip when it is missing. */
export const RUNNER_ENTRY = join(ROOT, 'apps/gpu-runner/src/index.ts');
/** The model version the edge is configured with (from the shipped manifest). */
export const MODEL_VERSION = (
  JSON.parse(readFileSync(join(ROOT, 'models/oftsr-student-x4.json'), 'utf8')) as { version: string }
).version;

const TOKEN = 'e2e-runner-token-0123456789';

/** A free TCP port on 127.0.0.1. */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createNetServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const address = srv.address();
      const port = typeof address === 'object' && address !== null ? address.port : 0;
      srv.close(() => resolve(port));
    });
  });
}

/** Polls `url` until it answers 200 (or `timeoutMs` passes, or `proc` dies). */
async function waitFor(
  url: string,
  timeoutMs: number,
  proc?: ChildProcess,
  log?: () => string,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (proc !== undefined && proc.exitCode !== null) {
      throw new Error(`process exited (${proc.exitCode}) before ${url} was ready:\n${log?.() ?? ''}`);
    }
    try {
      const res = await fetch(url, { signal: AbortSignal.timeout(2_000) });
      if (res.status === 200) return;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${url}:\n${log?.() ?? ''}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

const MIME: Record<string, string> = { '.png': 'image/png', '.jpg': 'image/jpeg', '.webp': 'image/webp' };

/** Serves `dir` read-only, counting requests. */
export async function startOrigin(dir: string): Promise<{ url: string; server: Server; hits: () => number }> {
  let hits = 0;
  const server = createServer((req, res) => {
    hits++;
    const name = decodeURIComponent((req.url ?? '/').split('?')[0] ?? '/').replace(/^\/+/, '');
    const path = join(dir, name);
    if (name.includes('..') || !existsSync(path)) {
      res.writeHead(404).end();
      return;
    }
    const body = readFileSync(path);
    res.writeHead(200, {
      'content-type': MIME[extname(path)] ?? 'application/octet-stream',
      'content-length': body.length,
    });
    res.end(body);
  });
  const port = await freePort();
  await new Promise<void>((r) => server.listen(port, '127.0.0.1', r));
  return { url: `http://127.0.0.1:${port}/`, server, hits: () => hits };
}

function spawnLogged(
  cmd: string,
  args: string[],
  env: NodeJS.ProcessEnv,
): { proc: ChildProcess; log: () => string } {
  const proc = spawn(cmd, args, { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
  let text = '';
  const keep = (chunk: Buffer): void => {
    text = (text + chunk.toString()).slice(-8_000);
  };
  proc.stdout?.on('data', keep);
  proc.stderr?.on('data', keep);
  return { proc, log: () => text };
}

/** Starts the real runner on the CPU; resolves once `/v2/health/ready` says ready. */
export async function startRunner(
  port: number,
  env: Record<string, string> = {},
): Promise<{ url: string; proc: ChildProcess; log: () => string }> {
  const { proc, log } = spawnLogged(process.execPath, [RUNNER_ENTRY], {
    ...process.env,
    OFTSR_HOST: '127.0.0.1',
    OFTSR_PORT: String(port),
    OFTSR_PROVIDERS: 'cpu',
    OFTSR_THREADS: '1',
    OFTSR_AUTH_TOKENS: TOKEN,
    ...env,
  });
  const url = `http://127.0.0.1:${port}`;
  await waitFor(`${url}/v2/health/ready`, 120_000, proc, log);
  return { url, proc, log };
}

/** Starts `wrangler dev --local` on the root wrangler.toml (env dev), pointed at origin and runner. */
export async function startEdge(options: {
  originUrl: string;
  runnerUrl: string;
  vars?: Record<string, string>;
}): Promise<{ url: string; proc: ChildProcess; log: () => string; persistDir: string }> {
  const port = await freePort();
  const persistDir = mkdtempSync(join(tmpdir(), 'oftsr-edge-'));
  const vars: Record<string, string> = {
    MODEL_VERSION,
    ORIGIN_URL: options.originUrl,
    RUNNER_URL: options.runnerUrl,
    RUNNER_TOKEN: TOKEN,
    ALLOW_PRIVATE_ORIGINS: 'true',
    ...options.vars,
  };
  const wrangler = join(ROOT, 'node_modules/wrangler/bin/wrangler.js');
  const args = [
    wrangler,
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
    'warn',
    ...Object.entries(vars).flatMap(([k, v]) => ['--var', `${k}:${v}`]),
  ];
  const { proc, log } = spawnLogged(process.execPath, args, {
    ...process.env,
    WRANGLER_SEND_METRICS: 'false',
    WRANGLER_LOG_PATH: join(persistDir, 'logs'),
    CI: '1',
  });
  const url = `http://127.0.0.1:${port}`;
  await waitFor(`${url}/healthz`, 120_000, proc, log);
  return { url, proc, log, persistDir };
}

/** Stops a child process (SIGTERM, then SIGKILL after 5 s). */
export async function stop(proc: ChildProcess | undefined): Promise<void> {
  if (proc === undefined || proc.exitCode !== null || proc.signalCode !== null) return;
  const exited = new Promise<void>((r) => proc.once('exit', () => r()));
  proc.kill('SIGTERM');
  const timer = setTimeout(() => proc.kill('SIGKILL'), 5_000);
  await exited;
  clearTimeout(timer);
}

/** Removes a temp dir made by {@link startEdge}. */
export function cleanup(dir: string | undefined): void {
  if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
}
