/**
 * The runner's hostile corpus (src/testing/hostile.ts) as files or as a run:
 *
 *   node apps/gpu-runner/scripts/hostile-corpus.ts --out DIR               # inputs + cases.json
 *   node apps/gpu-runner/scripts/hostile-corpus.ts --url URL --token TOKEN # run, print the figures
 *
 * A run expects a runner started with CORPUS_RUNNER_ENV (see the module); the CI test is
 * src/hostile.test.ts.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { HEADERS } from '@oftsr/shared';
import { CORPUS_DEADLINE_MS, CORPUS_RUNNER_ENV, runCorpus, runnerCorpus } from '../src/testing/hostile.ts';

const { values } = parseArgs({
  options: { out: { type: 'string' }, url: { type: 'string' }, token: { type: 'string' } },
});
const cases = await runnerCorpus();
if (values.out !== undefined) {
  mkdirSync(values.out, { recursive: true });
  const index = cases.map((c, i) => {
    const file = `${String(i).padStart(2, '0')}.bin`;
    if (typeof c.body !== 'function') writeFileSync(join(values.out as string, file), c.body);
    return {
      name: c.name,
      file: typeof c.body === 'function' ? '(a stalled stream: sends its first bytes, then nothing)' : file,
      contentType: c.contentType,
      query: c.query ?? '',
      headers: { [HEADERS.deadlineMs]: String(CORPUS_DEADLINE_MS), ...c.headers },
      expect: { ...c.expect, message: c.expect.message?.source },
      group: c.group,
    };
  });
  writeFileSync(
    join(values.out, 'cases.json'),
    `${JSON.stringify({ runnerEnv: CORPUS_RUNNER_ENV, cases: index }, null, 2)}\n`,
  );
  console.log(`wrote ${cases.length} cases to ${values.out}`);
}
if (values.url !== undefined) {
  const { results, figures } = await runCorpus(values.url.replace(/\/+$/, ''), values.token ?? '', cases);
  for (const r of results) {
    console.log(
      `${r.ok ? 'ok   ' : 'FAIL '} ${String(r.status).padEnd(4)} ${String(r.ms).padStart(6)} ms  ${r.name}${r.problem ? `  — ${r.problem}` : ''}`,
    );
  }
  console.log(JSON.stringify(figures));
  process.exitCode = figures.tried === figures.refusedCorrectly + figures.servedWhole ? 0 : 1;
}
if (values.out === undefined && values.url === undefined) {
  console.error('give --out DIR and/or --url URL --token TOKEN');
  process.exitCode = 2;
}
