/**
 * Child processes of the harness. Every child is spawned in its own process group (`detached`) and
 * stopped by signalling the group by its PID, so what a child starts in turn (wrangler's workerd,
 * npm's node) stops with it; whatever is still running when this process exits is killed then.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { rmSync } from 'node:fs';
import { ROOT } from './paths.ts';

/** A child process in its own process group, with the tail of its output kept. */
export interface Child {
  proc: ChildProcess;
  /** The last 64 kB of its stdout and stderr. */
  log(): string;
  /** Resolves with the exit code (or the signal's name) once it has exited. */
  exited: Promise<number | string>;
}

const LOG_TAIL = 64_000;
const live = new Set<ChildProcess>();
let exitHookInstalled = false;

/** Every child spawned by this module that has not exited yet (for a last-resort kill). */
export function liveChildren(): ChildProcess[] {
  return [...live];
}

/** Spawns `cmd` in its own process group (so {@link stop} reaches its children too). */
export function spawnGroup(cmd: string, args: string[], env: NodeJS.ProcessEnv, cwd = ROOT): Child {
  if (!exitHookInstalled) {
    // A child in its own group outlives its parent: whatever exits without stopping its children
    // (a test that never reached afterAll) still takes them down.
    process.once('exit', () => killAllNow(liveChildren()));
    exitHookInstalled = true;
  }
  const proc = spawn(cmd, args, { cwd, env, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
  live.add(proc);
  const exited = new Promise<number | string>((resolve) =>
    proc.once('exit', (code, signal) => {
      live.delete(proc);
      resolve(code ?? signal ?? 'unknown');
    }),
  );
  let text = '';
  const keep = (chunk: Buffer): void => {
    text = (text + chunk.toString()).slice(-LOG_TAIL);
  };
  proc.stdout?.on('data', keep);
  proc.stderr?.on('data', keep);
  return { proc, log: () => text, exited };
}

/** Whether `proc` has neither exited nor been killed. */
export function alive(proc: ChildProcess): boolean {
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

/** Removes a temp dir (e.g. an edge's persisted state). */
export function cleanup(dir: string | undefined): void {
  if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
}
