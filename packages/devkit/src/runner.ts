/** The real runner (`node apps/gpu-runner/src/index.ts`) as a child process on loopback. */
import { freePort, waitForUrl } from './net.ts';
import { RUNNER_ENTRY, RUNNER_TOKEN } from './paths.ts';
import { spawnGroup, stop, type Child } from './processes.ts';

/**
 * The settings the local stack, the edge's e2e suite and the pool/edge benches give a runner: the
 * CPU, one intra-op thread, {@link RUNNER_TOKEN}. Tests and benches of the runner itself pass their own.
 */
export const CPU_RUNNER_ENV: Readonly<Record<string, string>> = {
  OFTSR_PROVIDERS: 'cpu',
  OFTSR_THREADS: '1',
  OFTSR_AUTH_TOKENS: RUNNER_TOKEN,
};

/** A running runner. */
export interface Runner extends Child {
  url: string;
  port: number;
  /** SIGTERM (it drains), SIGKILL after `graceMs`; resolves once its process group is gone. */
  stop(signal?: NodeJS.Signals, graceMs?: number): Promise<void>;
  /** SIGKILL at once. */
  kill(): Promise<void>;
}

/**
 * Starts the runner with `env` over this process's environment (plus OFTSR_HOST/OFTSR_PORT) on
 * `port` (default: a free one); resolves once `/v2/health/ready` answers 200, kills it otherwise.
 */
export async function startRunner(
  options: { env?: Readonly<Record<string, string>>; port?: number; readyTimeoutMs?: number } = {},
): Promise<Runner> {
  const port = options.port ?? (await freePort());
  const child = spawnGroup(process.execPath, [RUNNER_ENTRY], {
    ...process.env,
    OFTSR_HOST: '127.0.0.1',
    OFTSR_PORT: String(port),
    ...options.env,
  });
  const url = `http://127.0.0.1:${port}`;
  const runner: Runner = {
    ...child,
    url,
    port,
    stop: (signal = 'SIGTERM', graceMs = 5_000) => stop(child.proc, signal, graceMs),
    kill: () => stop(child.proc, 'SIGKILL'),
  };
  try {
    await waitForUrl(`${url}/v2/health/ready`, options.readyTimeoutMs ?? 180_000, child);
  } catch (err) {
    await runner.kill();
    throw err;
  }
  return runner;
}
