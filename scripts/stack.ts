// The whole stack on 127.0.0.1, as processes: an origin (node:http serving samples/), moto's S3
// server for the runner's bucket, the real runner (`node apps/gpu-runner/src/index.ts`, CPU, the
// embedded model), the edge under `wrangler dev --local` (real workerd, R2 persisted in a temp dir)
// and, when asked, the SDK's demo page. `npm start` (scripts/start.ts), the
// end-to-end suites (e2e/, apps/edge/e2e/) and the benchmarks (bench/edge, bench/pool) all bring it
// up through this module, so there is one way to start it. Nothing leaves the machine.
//
// Every child is spawned in its own process group (`detached`) and stopped by signalling the group,
// so what a child starts in turn (wrangler's workerd, npm's node) stops with it.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { createServer as createNetServer } from 'node:net';
import { tmpdir } from 'node:os';
import { extname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The repository root. */
export const ROOT = fileURLToPath(new URL('../', import.meta.url));
/** The runner's entry point. */
export const RUNNER_ENTRY = join(ROOT, 'apps/gpu-runner/src/index.ts');
/** wrangler's CLI, from the root node_modules. */
export const WRANGLER_ENTRY = join(ROOT, 'node_modules/wrangler/bin/wrangler.js');
/** The Python interpreter of the repo's venv (moto lives there; bin/setup installs it). */
export const VENV_PYTHON = join(ROOT, '.venv/bin/python');
/** The model version the edge is configured with (from the shipped manifest). */
export const MODEL_VERSION = (
  JSON.parse(readFileSync(join(ROOT, 'models/oftsr-student-x4.json'), 'utf8')) as { version: string }
).version;
/** The runner's bearer token when the caller names none (loopback only). */
export const RUNNER_TOKEN = 'e2e-runner-token-0123456789';
/** The runner's S3 bucket in the local stack. */
export const LOCAL_BUCKET = 'oftsr-local';

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

/** `preferred` when it is free on 127.0.0.1, else any free port. */
export async function portOr(preferred: number | undefined): Promise<number> {
  if (preferred === undefined || preferred === 0) return freePort();
  const free = await new Promise<boolean>((resolve) => {
    const srv = createNetServer();
    srv.once('error', () => resolve(false));
    srv.listen(preferred, '127.0.0.1', () => srv.close(() => resolve(true)));
  });
  return free ? preferred : freePort();
}

/** A child process in its own process group, with the tail of its output kept. */
export interface Child {
  proc: ChildProcess;
  /** The last 8 kB of its stdout and stderr. */
  log(): string;
}

/** Polls `url` until it answers `status` (or `timeoutMs` passes, or `child` dies). */
export async function waitFor(url: string, timeoutMs: number, child?: Child, status = 200): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const proc = child?.proc;
    if (proc !== undefined && (proc.exitCode !== null || proc.signalCode !== null)) {
      throw new Error(
        `process exited (${proc.exitCode ?? proc.signalCode}) before ${url} was ready:\n${child?.log() ?? ''}`,
      );
    }
    try {
      const res = await fetch(url, { signal: AbortSignal.timeout(2_000) });
      await res.arrayBuffer();
      if (res.status === status) return;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${url}:\n${child?.log() ?? ''}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

const live = new Set<ChildProcess>();
let exitHookInstalled = false;

/** Every child spawned by this module that has not exited yet (for a last-resort kill). */
export function liveChildren(): ChildProcess[] {
  return [...live];
}

/** Spawns `cmd` in its own process group (so {@link stop} reaches its children too). */
export function spawnGroup(cmd: string, args: string[], env: NodeJS.ProcessEnv, cwd = ROOT): Child {
  if (live.size === 0 && !exitHookInstalled) {
    // A child in its own group outlives its parent: whatever exits without stopping its stack
    // (a test that never reached afterAll) still takes its children down.
    process.once('exit', () => killAllNow(liveChildren()));
    exitHookInstalled = true;
  }
  const proc = spawn(cmd, args, { cwd, env, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
  live.add(proc);
  proc.once('exit', () => live.delete(proc));
  let text = '';
  const keep = (chunk: Buffer): void => {
    text = (text + chunk.toString()).slice(-8_000);
  };
  proc.stdout?.on('data', keep);
  proc.stderr?.on('data', keep);
  return { proc, log: () => text };
}

function alive(proc: ChildProcess): boolean {
  return proc.exitCode === null && proc.signalCode === null;
}

function signalGroup(proc: ChildProcess, signal: NodeJS.Signals): void {
  if (proc.pid === undefined) return;
  try {
    process.kill(-proc.pid, signal);
  } catch {
    // the group is gone already
  }
}

/**
 * Stops a child and its process group: `signal` (SIGTERM), then SIGKILL after `graceMs`. A group
 * member left behind by a leader that exited first is killed too.
 */
export async function stop(
  proc: ChildProcess | undefined,
  signal: NodeJS.Signals = 'SIGTERM',
  graceMs = 5_000,
): Promise<void> {
  if (proc === undefined) return;
  if (alive(proc)) {
    const exited = new Promise<void>((r) => proc.once('exit', () => r()));
    signalGroup(proc, signal);
    const timer = setTimeout(() => signalGroup(proc, 'SIGKILL'), graceMs);
    await exited;
    clearTimeout(timer);
  }
  signalGroup(proc, 'SIGKILL');
}

/** Stops every child at once, synchronously (for `process.on('exit')`): SIGKILL to each group. */
export function killAllNow(procs: readonly (ChildProcess | undefined)[]): void {
  for (const proc of procs) if (proc !== undefined) signalGroup(proc, 'SIGKILL');
}

/** Removes a temp dir made by {@link startEdge}. */
export function cleanup(dir: string | undefined): void {
  if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
}

const MIME: Record<string, string> = {
  '.png': 'image/png',
  '.jpg': 'image/jpeg',
  '.jpeg': 'image/jpeg',
  '.webp': 'image/webp',
  '.avif': 'image/avif',
};

/** A read-only static server of one folder, counting requests. */
export interface Origin {
  url: string;
  server: Server;
  hits(): number;
  close(): Promise<void>;
}

/** Serves `dir` read-only on 127.0.0.1 (`port` 0 = any free port). */
export async function startOrigin(dir: string, port = 0): Promise<Origin> {
  let hits = 0;
  const server = createServer((req, res) => {
    hits++;
    const name = decodeURIComponent((req.url ?? '/').split('?')[0] ?? '/').replace(/^\/+/, '');
    const path = join(dir, name);
    if (name === '' || name.includes('..') || !existsSync(path)) {
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
  const listenPort = port === 0 ? await freePort() : port;
  await new Promise<void>((r) => server.listen(listenPort, '127.0.0.1', r));
  return {
    url: `http://127.0.0.1:${listenPort}/`,
    server,
    hits: () => hits,
    close: () => new Promise<void>((r) => server.close(() => r())),
  };
}

/** A running moto S3 server. */
export interface Moto extends Child {
  endpoint: string;
  /** Environment that points a runner at this server. */
  env: Record<string, string>;
}

/** Starts moto's S3 server from .venv on `port` and creates `buckets` (moto accepts any credentials). */
export async function startMoto(port: number, buckets: readonly string[] = [LOCAL_BUCKET]): Promise<Moto> {
  const child = spawnGroup(VENV_PYTHON, ['-m', 'moto.server', '-H', '127.0.0.1', '-p', String(port)], {
    ...process.env,
  });
  const endpoint = `http://127.0.0.1:${port}`;
  try {
    await waitFor(`${endpoint}/moto-api/`, 60_000, child);
    // moto does not check signatures: an unsigned path-style PUT creates a bucket.
    for (const bucket of buckets) {
      const res = await fetch(`${endpoint}/${bucket}`, { method: 'PUT' });
      await res.arrayBuffer();
      if (!res.ok) throw new Error(`moto: creating bucket ${bucket} answered ${res.status}`);
    }
  } catch (err) {
    await stop(child.proc);
    throw err;
  }
  return {
    ...child,
    endpoint,
    env: {
      OFTSR_S3_ENDPOINT: endpoint,
      OFTSR_S3_REGION: 'us-east-1',
      OFTSR_S3_FORCE_PATH_STYLE: '1',
      OFTSR_S3_BUCKET: buckets[0] ?? LOCAL_BUCKET,
      AWS_ACCESS_KEY_ID: 'test',
      AWS_SECRET_ACCESS_KEY: 'test',
    },
  };
}

/** A running runner. */
export interface Runner extends Child {
  url: string;
  port: number;
}

/** Starts the real runner on the CPU on `port`; resolves once `/v2/health/ready` says ready. */
export async function startRunner(
  port: number,
  env: Record<string, string> = {},
  readyTimeoutMs = 180_000,
): Promise<Runner> {
  const child = spawnGroup(process.execPath, [RUNNER_ENTRY], {
    ...process.env,
    OFTSR_HOST: '127.0.0.1',
    OFTSR_PORT: String(port),
    OFTSR_PROVIDERS: 'cpu',
    OFTSR_THREADS: '1',
    OFTSR_AUTH_TOKENS: RUNNER_TOKEN,
    ...env,
  });
  const url = `http://127.0.0.1:${port}`;
  try {
    await waitFor(`${url}/v2/health/ready`, readyTimeoutMs, child);
  } catch (err) {
    await stop(child.proc, 'SIGKILL');
    throw err;
  }
  return { ...child, url, port };
}

/** A running `wrangler dev`. */
export interface Edge extends Child {
  url: string;
  /** The temp dir holding its local R2 and Cache API state (remove with {@link cleanup}). */
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
    'warn',
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
    await waitFor(`${url}/healthz`, options.readyTimeoutMs ?? 180_000, child);
  } catch (err) {
    await stop(child.proc);
    cleanup(persistDir);
    throw err;
  }
  return { ...child, url, persistDir };
}

/** A running demo page server. */
export interface Demo extends Child {
  url: string;
}

/**
 * Starts the SDK's demo page (`npm run demo -w @oftsr/client-sdk`) on `port`, telling it the edge's
 * URL (`OFTSR_EDGE_URL`, the SDK's cloud fallback). The port goes in `PORT`, `DEMO_PORT` and
 * `OFTSR_DEMO_PORT`; a different URL printed by the server is used when that one never answers.
 */
export async function startDemo(options: {
  port: number;
  edgeUrl: string;
  readyTimeoutMs?: number;
}): Promise<Demo> {
  const npmCli = process.env.npm_execpath;
  const [cmd, pre] =
    npmCli !== undefined && npmCli.endsWith('.js') ? [process.execPath, [npmCli]] : ['npm', [] as string[]];
  const child = spawnGroup(cmd, [...pre, 'run', 'demo', '-w', '@oftsr/client-sdk', '--silent'], {
    ...process.env,
    HOST: '127.0.0.1',
    PORT: String(options.port),
    DEMO_PORT: String(options.port),
    OFTSR_DEMO_PORT: String(options.port),
    OFTSR_EDGE_URL: options.edgeUrl,
  });
  const expected = `http://127.0.0.1:${options.port}/`;
  const deadline = Date.now() + (options.readyTimeoutMs ?? 120_000);
  try {
    for (;;) {
      const printed = /https?:\/\/(?:127\.0\.0\.1|localhost):\d+\/?[^\s'"]*/.exec(child.log())?.[0];
      for (const url of printed === undefined ? [expected] : [expected, printed]) {
        try {
          const res = await fetch(url, { signal: AbortSignal.timeout(2_000) });
          await res.arrayBuffer();
          if (res.ok) return { ...child, url };
        } catch {
          // not yet
        }
      }
      if (!alive(child.proc)) throw new Error(`demo server exited (${child.proc.exitCode}):\n${child.log()}`);
      if (Date.now() > deadline) throw new Error(`timed out waiting for the demo page:\n${child.log()}`);
      await new Promise((r) => setTimeout(r, 500));
    }
  } catch (err) {
    await stop(child.proc);
    throw err;
  }
}

/** Options for {@link startStack}; every port defaults to a free one. */
export interface StackOptions {
  /** Folder the origin serves (default samples/). */
  originDir?: string;
  ports?: { origin?: number; moto?: number; runner?: number; edge?: number; demo?: number };
  /** Extra runner environment (e.g. `OFTSR_THREADS`). */
  runnerEnv?: Record<string, string>;
  /** The runner's bearer token (default {@link RUNNER_TOKEN}). */
  runnerToken?: string;
  /** Extra edge vars. */
  edgeVars?: Record<string, string>;
  /** Start moto and point the runner's S3 at it (default true). */
  moto?: boolean;
  /** Start the SDK demo page (default false). */
  demo?: boolean;
  /** Progress lines (e.g. `console.error`). */
  onProgress?: (line: string) => void;
}

/** The running stack. */
export interface Stack {
  origin: Origin;
  moto: Moto | undefined;
  runner: Runner | undefined;
  edge: Edge;
  demo: Demo | undefined;
  /** Why the demo page is not running, when it is not. */
  demoNote: string | undefined;
  /** The environment the runner was started with (to start it again on the same port). */
  runnerEnv: Record<string, string>;
  runnerPort: number;
  /** Stops the runner (SIGTERM: it drains; or SIGKILL). */
  stopRunner(signal?: NodeJS.Signals): Promise<void>;
  /** Starts the runner again on the same port with the same environment. */
  restartRunner(): Promise<Runner>;
  /** Every child process started so far (for a synchronous kill on exit). */
  processes(): ChildProcess[];
  /** Stops everything and removes the temp state. */
  stop(): Promise<void>;
}

/**
 * Brings the whole stack up: origin and moto first, then runner and edge in parallel (the edge only
 * needs the runner's URL), then the demo page. On a failure everything already started is stopped.
 */
export async function startStack(options: StackOptions = {}): Promise<Stack> {
  const say = options.onProgress ?? (() => {});
  const ports = options.ports ?? {};
  const started: { origin?: Origin; moto?: Moto; runner?: Runner; edge?: Edge; demo?: Demo } = {};
  const extra: ChildProcess[] = [];
  const stopAll = async (): Promise<void> => {
    await Promise.all([
      stop(started.demo?.proc),
      stop(started.edge?.proc),
      stop(started.runner?.proc),
      stop(started.moto?.proc),
      ...extra.map((p) => stop(p)),
    ]);
    await started.origin?.close();
    cleanup(started.edge?.persistDir);
  };
  try {
    started.origin = await startOrigin(
      options.originDir ?? join(ROOT, 'samples'),
      await portOr(ports.origin),
    );
    say(`origin  ${started.origin.url} (static ${options.originDir ?? 'samples/'})`);
    const runnerEnv: Record<string, string> = {
      OFTSR_AUTH_TOKENS: options.runnerToken ?? RUNNER_TOKEN,
      ...options.runnerEnv,
    };
    if (options.moto ?? true) {
      say('moto    starting (S3 for the runner) …');
      started.moto = await startMoto(await portOr(ports.moto));
      Object.assign(runnerEnv, started.moto.env, options.runnerEnv);
      say(`moto    ${started.moto.endpoint} (bucket ${LOCAL_BUCKET})`);
    }
    const runnerPort = await portOr(ports.runner);
    const edgePort = await portOr(ports.edge);
    say('runner  starting (CPU, model warm-up) …');
    say('edge    starting (wrangler dev --local) …');
    const both = await Promise.allSettled([
      startRunner(runnerPort, runnerEnv).then((r) => {
        say(`runner  ${r.url} ready`);
        return r;
      }),
      startEdge({
        originUrl: started.origin.url,
        runnerUrl: `http://127.0.0.1:${runnerPort}`,
        runnerToken: options.runnerToken ?? RUNNER_TOKEN,
        port: edgePort,
        vars: options.edgeVars,
      }).then((e) => {
        say(`edge    ${e.url} ready`);
        return e;
      }),
    ]);
    if (both[0].status === 'fulfilled') started.runner = both[0].value;
    if (both[1].status === 'fulfilled') started.edge = both[1].value;
    for (const s of both) if (s.status === 'rejected') throw s.reason;
    const edge = started.edge as Edge;

    let demoNote: string | undefined;
    if (options.demo === true) {
      say('demo    starting (npm run demo -w @oftsr/client-sdk) …');
      try {
        started.demo = await startDemo({ port: await portOr(ports.demo), edgeUrl: edge.url });
      } catch (err) {
        demoNote = `the demo page did not start: ${(err as Error).message.split('\n')[0]}`;
      }
    }

    const stack: Stack = {
      origin: started.origin,
      moto: started.moto,
      get runner() {
        return started.runner;
      },
      edge,
      demo: started.demo,
      demoNote,
      runnerEnv,
      runnerPort,
      async stopRunner(signal = 'SIGTERM') {
        const r = started.runner;
        started.runner = undefined;
        if (r !== undefined) {
          extra.push(r.proc);
          await stop(r.proc, signal);
        }
      },
      async restartRunner() {
        await stack.stopRunner();
        started.runner = await startRunner(runnerPort, runnerEnv);
        return started.runner;
      },
      processes: () =>
        [started.demo?.proc, started.edge?.proc, started.runner?.proc, started.moto?.proc, ...extra].filter(
          (p): p is ChildProcess => p !== undefined,
        ),
      stop: stopAll,
    };
    return stack;
  } catch (err) {
    await stopAll();
    throw err;
  }
}
