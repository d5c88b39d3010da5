/**
 * Starts the real runner (`node src/index.ts`) as a child process on a free loopback port, for
 * tests that need signals (SIGTERM drain, SIGKILL mid-write). Stopped by its PID.
 */
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { freePort, waitFor } from './net.ts';

const ENTRY = fileURLToPath(new URL('../index.ts', import.meta.url));

/** A running runner process. */
export interface RunnerProcess {
  child: ChildProcess;
  url: string;
  /** Its stderr so far (JSON log lines). */
  log(): string;
  /** Resolves with the exit code (or signal name) once it has exited. */
  exited: Promise<number | string>;
  /** SIGKILL if still running. */
  kill(): Promise<void>;
}

/** Starts the runner with `env` on top of the test's environment and waits until ready. */
export async function startRunner(
  env: Record<string, string>,
  readyTimeoutMs = 60_000,
): Promise<RunnerProcess> {
  const port = await freePort();
  const child = spawn(process.execPath, [ENTRY], {
    env: { ...process.env, OFTSR_HOST: '127.0.0.1', OFTSR_PORT: String(port), ...env },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  child.stderr?.on('data', (d: Buffer) => {
    stderr += d.toString();
  });
  const exited = new Promise<number | string>((resolve) =>
    child.once('exit', (code, signal) => resolve(code ?? signal ?? 'unknown')),
  );
  const url = `http://127.0.0.1:${port}`;
  const runner: RunnerProcess = {
    child,
    url,
    log: () => stderr,
    exited,
    async kill() {
      if (child.exitCode === null && child.signalCode === null && child.pid)
        process.kill(child.pid, 'SIGKILL');
      await exited;
    },
  };
  try {
    await waitFor(
      async () => {
        if (child.exitCode !== null) throw new Error(`runner exited with ${child.exitCode}: ${stderr}`);
        const res = await fetch(`${url}/v2/health/ready`).catch(() => undefined);
        return res?.status === 200;
      },
      readyTimeoutMs,
      100,
    );
  } catch (err) {
    await runner.kill();
    throw err;
  }
  return runner;
}
