// The whole stack on 127.0.0.1, as processes: an origin (static samples/), moto's S3 server for the
// runner's bucket, the real runner (`node apps/gpu-runner/src/index.ts`, CPU, the embedded model),
// the edge under `wrangler dev --local` (real workerd, R2 persisted in a temp dir) and, when asked,
// the SDK's demo page. `npm start` (scripts/start.ts) and e2e/pipeline.e2e.test.ts bring it up
// through this module, so there is one way to start it; each piece is started by the harness
// (@oftsr/devkit, packages/devkit), which the edge's e2e suite and the benchmarks use directly.
// Nothing leaves the machine.
import type { ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import {
  cleanup,
  CPU_RUNNER_ENV,
  LOCAL_BUCKET,
  portOr,
  ROOT,
  RUNNER_TOKEN,
  startDemo,
  startMoto,
  startOrigin,
  startRunner,
  startRunnerAndEdge,
  stop,
  type Demo,
  type Edge,
  type Moto,
  type Origin,
  type Runner,
} from '@oftsr/devkit';

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
      ...CPU_RUNNER_ENV,
      OFTSR_AUTH_TOKENS: options.runnerToken ?? RUNNER_TOKEN,
      ...options.runnerEnv,
    };
    if (options.moto ?? true) {
      say('moto    starting (S3 for the runner) …');
      started.moto = await startMoto({ port: await portOr(ports.moto) });
      Object.assign(runnerEnv, started.moto.env, options.runnerEnv);
      say(`moto    ${started.moto.endpoint} (bucket ${LOCAL_BUCKET})`);
    }
    const runnerPort = await portOr(ports.runner);
    const edgePort = await portOr(ports.edge);
    say('runner  starting (CPU, model warm-up) …');
    say('edge    starting (wrangler dev --local) …');
    const both = await startRunnerAndEdge({
      runner: { port: runnerPort, env: runnerEnv },
      edge: {
        originUrl: started.origin.url,
        runnerToken: options.runnerToken ?? RUNNER_TOKEN,
        port: edgePort,
        vars: options.edgeVars,
      },
      onReady: (what, url) => say(`${what.padEnd(7)} ${url} ready`),
    });
    started.runner = both.runner;
    const edge = (started.edge = both.edge);

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
        started.runner = await startRunner({ port: runnerPort, env: runnerEnv });
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
