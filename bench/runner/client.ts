// The runner as the benchmarks see it: one timed POST /v1/upscale, and the resident memory it
// reports in /metrics. Shared by bench/runner/run.ts and bench/runner/tiles.ts.
import { RUNNER_ROUTES } from '@oftsr/shared';

/** One upscale: HTTP status, wall time, and the runner's own inference time (Server-Timing). */
export async function timedUpscale(
  runnerUrl: string,
  token: string,
  body: Buffer,
): Promise<{ status: number; ms: number; inferMs: number }> {
  const start = performance.now();
  const res = await fetch(`${runnerUrl}${RUNNER_ROUTES.upscale}?format=png`, {
    method: 'POST',
    body,
    headers: { 'content-type': 'image/png', authorization: `Bearer ${token}` },
  });
  await res.arrayBuffer();
  const infer = /infer;dur=([\d.]+)/.exec(res.headers.get('server-timing') ?? '');
  return { status: res.status, ms: performance.now() - start, inferMs: infer ? Number(infer[1]) : NaN };
}

/** The runner's resident memory in bytes (`oftsr_process_resident_memory_bytes`), NaN if absent. */
export async function residentBytes(runnerUrl: string): Promise<number> {
  const text = await (await fetch(`${runnerUrl}${RUNNER_ROUTES.metrics}`)).text();
  const line = text.split('\n').find((l) => l.startsWith('oftsr_process_resident_memory_bytes '));
  return Number(line?.split(' ')[1] ?? NaN);
}
