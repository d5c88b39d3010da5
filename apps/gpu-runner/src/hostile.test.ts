/**
 * The hostile corpus (src/testing/hostile.ts) against the real runner as a process, with the
 * edge's deadline: every case gets its expected status, code and field or message; nothing crashes,
 * hangs or loses data; and the process's peak resident memory stays under the documented bound,
 * the idle footprint plus OFTSR_MAX_WORK_MB.
 */
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CORPUS_RUNNER_ENV, runCorpus, runnerCorpus } from './testing/hostile.ts';
import { patternImage } from './testing/fixtures.ts';
import { startRunner } from '@oftsr/devkit';
import type { Runner } from '@oftsr/devkit';
import { TEST_TOKEN } from './testing/runtime.ts';

const MiB = 1024 * 1024;
let runner: Runner;

/** Resident memory of a process from /proc: now (VmRSS) and the peak so far (VmHWM), bytes. */
function memory(pid: number): { rss: number; peak: number } {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = (name: string) => Number(new RegExp(`^${name}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? 0);
  return { rss: kb('VmRSS') * 1024, peak: kb('VmHWM') * 1024 };
}

beforeAll(async () => {
  runner = await startRunner({
    env: { OFTSR_AUTH_TOKENS: TEST_TOKEN, OFTSR_THREADS: '2', ...CORPUS_RUNNER_ENV },
    readyTimeoutMs: 120_000,
  });
  // One ordinary request first, so the service rate is measured rather than taken from the warm-up.
  const res = await fetch(`${runner.url}/v1/upscale`, {
    method: 'POST',
    body: await patternImage(300, 200),
    headers: { 'content-type': 'image/png', authorization: `Bearer ${TEST_TOKEN}` },
  });
  expect(res.status).toBe(200);
}, 180_000);

afterAll(async () => {
  await runner?.kill();
});

describe('hostile corpus against the real runner', () => {
  it('every case is answered as expected; no crash, hang or lost data; RSS under the bound', async () => {
    const pid = runner.proc.pid as number;
    const idle = memory(pid).rss;
    const cases = await runnerCorpus();
    const { results, figures } = await runCorpus(runner.url, TEST_TOKEN, cases);
    const peak = memory(pid).peak;
    const bound = idle + Number(CORPUS_RUNNER_ENV.OFTSR_MAX_WORK_MB) * MiB;
    console.log(
      JSON.stringify({
        corpus: 'runner',
        ...figures,
        idleRssMiB: Math.round(idle / MiB),
        peakRssMiB: Math.round(peak / MiB),
        boundMiB: Math.round(bound / MiB),
      }),
    );
    expect(results.filter((r) => !r.ok)).toEqual([]);
    expect(figures).toMatchObject({ crashes: 0, hangs: 0, lostData: 0, wrong: 0 });
    expect(figures.refusedCorrectly + figures.servedWhole).toBe(figures.tried);
    expect(peak).toBeLessThan(bound);
  }, 300_000);
});
