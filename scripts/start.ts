// `npm start` (bin/start): the whole product on loopback with one command. It checks the
// prerequisites (one message each), then brings up through scripts/stack.ts: a static origin serving
// samples/, moto's S3 server for the runner's bucket, the runner (CPU, the embedded model, a token
// generated for this run), the edge under `wrangler dev --local` (real workerd, local R2) and the
// SDK's demo page. It prints the URLs, then waits; Ctrl-C (or SIGTERM)
// stops every process it started and exits. When a child dies on its own, everything stops.
//
//   npm start                         preferred ports 8787 (edge), 8788 (origin), 8789 (runner),
//                                     8790 (S3), 8791 (demo); a busy one is replaced by a free one
//   OFTSR_START_THREADS=2 npm start   runner intra-op threads (default 0: one per core)
import { spawnSync, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { RUNNER_ROUTES } from '@oftsr/shared';
import {
  killAllNow,
  liveChildren,
  LOCAL_BUCKET,
  RUNNER_ENTRY,
  ROOT,
  VENV_PYTHON,
  WRANGLER_ENTRY,
} from '@oftsr/devkit';
import { startStack, type Stack } from './stack.ts';

/** The sample the ready-made URL points at (drawn by the project: samples/README.md). */
export const SAMPLE = 'landscape-192x128.png';

/** One problem that stops `npm start`, with what to do about it. */
export interface Problem {
  what: string;
  fix: string;
}

/** Everything `npm start` needs that is missing (empty when all is there). */
export function checkPrerequisites(root = ROOT, python = VENV_PYTHON): Problem[] {
  const problems: Problem[] = [];
  const [major = 0, minor = 0] = process.versions.node.split('.').map(Number);
  if (major < 22 || (major === 22 && minor < 6)) {
    problems.push({
      what: `Node ${process.versions.node} is too old (22.6 or newer runs the TypeScript sources)`,
      fix: 'run bin/setup, then `source bin/env.sh` (or use bin/start)',
    });
  }
  if (!existsSync(join(root, 'node_modules'))) {
    problems.push({ what: 'node_modules/ is missing', fix: 'run bin/setup (it runs npm ci)' });
  } else {
    if (!existsSync(WRANGLER_ENTRY) || !existsSync(join(root, 'node_modules/@cloudflare/workerd-linux-64'))) {
      problems.push({
        what: 'wrangler (or its workerd binary) is not installed in node_modules/',
        fix: 'run bin/setup (npm ci installs wrangler from the lockfile)',
      });
    }
    for (const pkg of ['onnxruntime-node', 'sharp', 'hono']) {
      if (!existsSync(join(root, 'node_modules', pkg))) {
        problems.push({ what: `the runner's dependency ${pkg} is not installed`, fix: 'run bin/setup' });
      }
    }
  }
  if (!existsSync(RUNNER_ENTRY)) {
    problems.push({ what: `the runner entry ${RUNNER_ENTRY} is missing`, fix: 'check out the full repo' });
  }
  const manifest = join(root, 'models/oftsr-student-x4.json');
  if (!existsSync(manifest)) {
    problems.push({
      what: 'the model manifest models/oftsr-student-x4.json is missing',
      fix: 'check out models/',
    });
  } else {
    const { file } = JSON.parse(readFileSync(manifest, 'utf8')) as { file?: string };
    const onnx = join(root, 'models', file ?? 'oftsr-student-x4.onnx');
    if (!existsSync(onnx)) {
      problems.push({
        what: `the model ${onnx} is missing`,
        fix: 'check out models/ (git lfs pull if it is stored with LFS)',
      });
    }
  }
  if (!existsSync(join(root, 'samples', SAMPLE))) {
    problems.push({
      what: `samples/${SAMPLE} is missing`,
      fix: 'node apps/gpu-runner/scripts/make-samples.ts',
    });
  }
  if (!existsSync(python)) {
    problems.push({
      what: '.venv/ is missing (moto, the local S3 server, lives there)',
      fix: 'run bin/setup',
    });
  } else {
    const probe = spawnSync(python, ['-c', 'import moto.server'], { stdio: 'ignore', timeout: 60_000 });
    if (probe.status !== 0) {
      problems.push({
        what: 'moto (the local S3 server) is not installed in .venv',
        fix: 'run bin/setup (it installs requirements-dev.txt)',
      });
    }
  }
  return problems;
}

/** The lines `npm start` prints once everything is up. */
export function banner(stack: Stack, token: string): string[] {
  const edge = stack.edge.url;
  const lines = [
    '',
    'oftsr is running on 127.0.0.1 — Ctrl-C stops everything.',
    '',
    `  try it     ${edge}/${SAMPLE}?sr=4&t=0.7`,
    `             (the same URL again is a cache hit; ${edge}/${SAMPLE}?sr=4&t=0 is the fidelity end)`,
    `  original   ${stack.origin.url}${SAMPLE}`,
    `  edge       ${edge}   wrangler dev --local (env dev): real workerd, local R2 and Cache API`,
    `  runner     ${stack.runner?.url ?? '(stopped)'}   CPU, models/oftsr-student-x4.onnx; ${RUNNER_ROUTES.model}, ${RUNNER_ROUTES.metrics}`,
    `             curl -H 'Authorization: Bearer ${token}' -H 'Content-Type: image/png' \\`,
    `               --data-binary @samples/${SAMPLE} '${stack.runner?.url ?? ''}${RUNNER_ROUTES.upscale}?t=0.7' -o out.png`,
  ];
  if (stack.moto !== undefined) {
    lines.push(
      `  S3 (moto)  ${stack.moto.endpoint}   bucket ${LOCAL_BUCKET}, for the runner's jobs (POST ${RUNNER_ROUTES.jobs})`,
    );
  }
  lines.push(
    stack.demo !== undefined
      ? `  demo       ${stack.demo.url}   the SDK in your browser (WebGPU, cloud fallback through the edge)`
      : `  demo       not started: ${stack.demoNote ?? 'unknown reason'}`,
  );
  lines.push('');
  return lines;
}

async function main(): Promise<number> {
  const problems = checkPrerequisites();
  if (problems.length > 0) {
    for (const p of problems) console.error(`npm start: ${p.what} — ${p.fix}.`);
    return 1;
  }

  let stack: Stack | undefined;
  let stopping: Promise<void> | undefined;
  let exitCode = 0;
  let wake: () => void = () => {};
  const finished = new Promise<void>((r) => {
    wake = r;
  });
  let firstSignalAt = 0;
  const shutdown = (why: string, code: number): void => {
    if (stopping !== undefined) {
      // npm forwards the terminal's Ctrl-C too: only a second press, a moment later, means "now".
      if (Date.now() - firstSignalAt < 1_500) return;
      console.error(`npm start: ${why} again — killing every process now.`);
      killAllNow(liveChildren());
      process.exit(code);
    }
    exitCode = code;
    firstSignalAt = Date.now();
    console.error(`\nnpm start: ${why} — stopping every process …`);
    stopping = (async () => {
      if (stack !== undefined) await stack.stop();
      else killAllNow(liveChildren());
      wake();
    })();
  };
  process.on('SIGINT', () => shutdown('interrupted', 130));
  process.on('SIGTERM', () => shutdown('terminated', 143));
  process.on('SIGHUP', () => shutdown('hung up', 129));
  process.on('exit', () => killAllNow(liveChildren()));

  const token = randomBytes(24).toString('hex');
  const t0 = Date.now();
  try {
    stack = await startStack({
      ports: { edge: 8787, origin: 8788, runner: 8789, moto: 8790, demo: 8791 },
      runnerToken: token,
      runnerEnv: { OFTSR_THREADS: process.env.OFTSR_START_THREADS ?? '0' },
      demo: true,
      onProgress: (line) => console.error(`  ${line}`),
    });
  } catch (err) {
    if (stopping !== undefined) {
      await stopping;
      return exitCode;
    }
    console.error(`npm start: the stack did not come up: ${(err as Error).message}`);
    killAllNow(liveChildren());
    return 1;
  }
  if (stopping !== undefined) {
    await stack.stop();
    return exitCode;
  }
  console.log(banner(stack, token).join('\n'));
  console.error(`npm start: up in ${((Date.now() - t0) / 1000).toFixed(1)} s`);

  const watch = (name: string, proc: ChildProcess | undefined, log: () => string): void => {
    proc?.once('exit', (code, signal) => {
      if (stopping === undefined) {
        console.error(
          `npm start: the ${name} exited (${code ?? signal}); last output:\n${log().slice(-2_000)}`,
        );
        shutdown(`the ${name} stopped`, 1);
      }
    });
  };
  watch('edge', stack.edge.proc, stack.edge.log);
  watch('runner', stack.runner?.proc, stack.runner?.log ?? (() => ''));
  watch('S3 server', stack.moto?.proc, stack.moto?.log ?? (() => ''));
  watch('demo server', stack.demo?.proc, stack.demo?.log ?? (() => ''));

  await finished;
  return exitCode;
}

if (import.meta.main) process.exit(await main());
