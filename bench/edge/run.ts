/**
 * Benchmarks the edge Worker under `wrangler dev --local` on 127.0.0.1, with the real runner
 * (CPU) and a local origin (the harness, @oftsr/devkit):
 * - cache hits: sequential latency p50/p95 (one client), then a bounded autocannon load
 *   (fixed connections, fixed duration) for requests/s and latency percentiles;
 * - misses: for fresh seeds, the runner called directly vs. the same request through the edge,
 *   interleaved; the difference is the edge's added latency (source fetch, key, R2 write start);
 * - the deadline on a 512² input (a miss the CPU runner needs seconds for): time to first byte and
 *   time until the upscaled image is served, with the edge's wait off (`wait=` the runner timeout:
 *   the viewer waits for the runner) and on (`wait=DEADLINE_MS`: the original at the deadline, the
 *   edge's own runner call going on in the background, the URL polled until it is a hit).
 * Every loop is bounded; all traffic stays on loopback; child processes are stopped at the end.
 *
 *   npm run bench:edge     → bench/edge/results.json + bench/edge/RESULTS.md
 */
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import autocannon from 'autocannon';
import sharp from 'sharp';
import { format, resolveConfig } from 'prettier';
import { HEADERS, RUNNER_ROUTES } from '@oftsr/shared';
import {
  cleanup,
  CPU_RUNNER_ENV,
  freePort,
  MODEL_VERSION,
  ROOT,
  startEdge,
  startOrigin,
  startRunner,
  stop,
} from '@oftsr/devkit';
import { machineInfo, percentile, round } from '../stats.ts';

const OUT_DIR = fileURLToPath(new URL('./', import.meta.url));
const TOKEN = 'e2e-runner-token-0123456789';
const SEQ_HITS = Number(process.env.BENCH_SEQ_HITS ?? 300);
const LOAD_SECONDS = Number(process.env.BENCH_LOAD_SECONDS ?? 10);
const LOAD_CONNECTIONS = Number(process.env.BENCH_CONNECTIONS ?? 8);
const MISSES = Number(process.env.BENCH_MISSES ?? 8);
const SAMPLE = 'landscape-192x128.png';
const LARGE = 'landscape-512x512.png';
const LARGE_ROUNDS = Number(process.env.BENCH_LARGE_ROUNDS ?? 2);
const DEADLINE_MS = Number(process.env.BENCH_DEADLINE_MS ?? 2_000);
/** wrangler.toml [env.dev] RUNNER_TIMEOUT_MS: a wait this long is no deadline. */
const RUNNER_TIMEOUT_MS = 60_000;

/** Time to the response's headers (fetch resolves there) and to its last byte. */
async function firstByte(url: string): Promise<{ ttfbMs: number; totalMs: number; res: Response }> {
  const t0 = performance.now();
  const res = await fetch(url);
  const ttfbMs = performance.now() - t0;
  await res.arrayBuffer();
  return { ttfbMs, totalMs: performance.now() - t0, res };
}

async function timed(url: string, init?: RequestInit): Promise<{ ms: number; res: Response; bytes: number }> {
  const t0 = performance.now();
  const res = await fetch(url, init);
  const bytes = (await res.arrayBuffer()).byteLength;
  return { ms: performance.now() - t0, res, bytes };
}

const loadBefore = loadavg()[0] ?? 0;
// The samples plus a 512² input (the landscape sample resized), served by the origin.
const originDir = mkdtempSync(join(tmpdir(), 'oftsr-bench-edge-'));
cpSync(join(ROOT, 'samples'), originDir, { recursive: true });
await sharp(join(ROOT, 'samples', SAMPLE))
  .resize(512, 512, { fit: 'fill' })
  .png()
  .toFile(join(originDir, LARGE));
const origin = await startOrigin(originDir);
const runnerPort = await freePort();
const [runner, edge] = await Promise.all([
  startRunner({ port: runnerPort, env: { ...CPU_RUNNER_ENV, OFTSR_THREADS: '0' } }),
  startEdge({ originUrl: origin.url, runnerUrl: `http://127.0.0.1:${runnerPort}` }),
]);

try {
  // --- misses: runner alone vs. through the edge (fresh seed each, so each edge call misses) ---
  const source = readFileSync(join(ROOT, 'samples', SAMPLE));
  const direct: number[] = [];
  const viaEdge: number[] = [];
  await timed(`${runner.url}${RUNNER_ROUTES.upscale}?sr=4&t=0.5&seed=999999`, {
    method: 'POST',
    body: source,
    headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'image/png' },
  }); // warm-up
  for (let i = 0; i < MISSES; i++) {
    const query = `format=png&q=85&seed=${1000 + i}&sr=4&t=0.5`;
    const d = await timed(`${runner.url}${RUNNER_ROUTES.upscale}?${query}`, {
      method: 'POST',
      body: source,
      headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'image/png' },
    });
    const e = await timed(`${edge.url}/${SAMPLE}?${query}`);
    if (d.res.status !== 200 || e.res.status !== 200 || e.res.headers.get(HEADERS.cache) !== 'miss') {
      throw new Error(
        `miss round ${i}: runner ${d.res.status}, edge ${e.res.status} ${e.res.headers.get(HEADERS.cache)}`,
      );
    }
    direct.push(d.ms);
    viaEdge.push(e.ms);
  }
  const added = viaEdge.map((v, i) => v - (direct[i] ?? 0));

  // --- hits: one warm key, sequential then bounded concurrent load ---
  const hitUrl = `${edge.url}/${SAMPLE}?sr=4&t=0.7`;
  const warm = await timed(hitUrl);
  const outputBytes = warm.bytes;
  await timed(hitUrl); // first hit copies R2 into the Cache API
  const seq: number[] = [];
  const tiers: Record<string, number> = {};
  for (let i = 0; i < SEQ_HITS; i++) {
    const r = await timed(hitUrl);
    if (r.res.headers.get(HEADERS.cache) !== 'hit')
      throw new Error(`expected a hit, got ${r.res.headers.get(HEADERS.cache)}`);
    const tier = r.res.headers.get(HEADERS.cacheTier) ?? '?';
    tiers[tier] = (tiers[tier] ?? 0) + 1;
    seq.push(r.ms);
  }
  const load = await autocannon({ url: hitUrl, connections: LOAD_CONNECTIONS, duration: LOAD_SECONDS });

  // --- the deadline on a 512² miss: off (wait for the runner) vs on (original at the deadline) ---
  const deadlineOff: { ttfbMs: number; servedMs: number }[] = [];
  const deadlineOn: { ttfbMs: number; servedMs: number; polls: number }[] = [];
  for (let i = 0; i < LARGE_ROUNDS; i++) {
    const off = await firstByte(`${edge.url}/${LARGE}?sr=4&seed=${2000 + i}&wait=${RUNNER_TIMEOUT_MS}`);
    if (off.res.headers.get('x-oftsr-cache') !== 'miss') {
      throw new Error(`deadline off, round ${i}: ${off.res.status} ${off.res.headers.get('x-oftsr-cache')}`);
    }
    deadlineOff.push({ ttfbMs: off.ttfbMs, servedMs: off.totalMs });
    const url = `${edge.url}/${LARGE}?sr=4&seed=${3000 + i}&wait=${DEADLINE_MS}`;
    const t0 = performance.now();
    const on = await firstByte(url);
    if (on.res.headers.get('x-oftsr-cache') !== 'pending') {
      throw new Error(`deadline on, round ${i}: ${on.res.status} ${on.res.headers.get('x-oftsr-cache')}`);
    }
    let polls = 0;
    for (;;) {
      await new Promise((r) => setTimeout(r, 250));
      polls++;
      const view = await firstByte(url);
      if (view.res.headers.get('x-oftsr-cache') === 'hit') break;
      if (performance.now() - t0 > 180_000) throw new Error(`deadline on, round ${i}: no hit after 180 s`);
    }
    deadlineOn.push({ ttfbMs: on.ttfbMs, servedMs: performance.now() - t0, polls });
  }
  const p50 = (xs: number[]) => round(percentile(xs, 50));

  const results = {
    date: new Date().toISOString(),
    machine: {
      ...machineInfo(),
      loadAverage1mBefore: round(loadBefore),
    },
    modelVersion: MODEL_VERSION,
    setup: 'wrangler dev --local (env dev) + real runner (CPU) + node:http origin, all on 127.0.0.1',
    sample: { file: SAMPLE, input: '192x128', output: '768x512 PNG', outputBytes },
    hitSequential: {
      requests: SEQ_HITS,
      p50Ms: round(percentile(seq, 50)),
      p95Ms: round(percentile(seq, 95)),
      p99Ms: round(percentile(seq, 99)),
      tiers,
    },
    hitLoad: {
      connections: LOAD_CONNECTIONS,
      durationS: LOAD_SECONDS,
      requests: load.requests.total,
      non2xx: load.non2xx,
      errors: load.errors,
      requestsPerSecond: round(load.requests.average),
      latencyMs: {
        p50: load.latency.p50,
        p90: load.latency.p90,
        p97_5: load.latency.p97_5,
        p99: load.latency.p99,
      },
    },
    deadline512: {
      input: '512x512 PNG → 2048x2048 PNG (sr=4), a fresh seed per request',
      rounds: LARGE_ROUNDS,
      deadlineMs: DEADLINE_MS,
      off: {
        ttfbMsP50: p50(deadlineOff.map((r) => r.ttfbMs)),
        servedMsP50: p50(deadlineOff.map((r) => r.servedMs)),
        all: deadlineOff.map((r) => ({ ttfbMs: round(r.ttfbMs), servedMs: round(r.servedMs) })),
      },
      on: {
        ttfbMsP50: p50(deadlineOn.map((r) => r.ttfbMs)),
        servedMsP50: p50(deadlineOn.map((r) => r.servedMs)),
        all: deadlineOn.map((r) => ({
          ttfbMs: round(r.ttfbMs),
          servedMs: round(r.servedMs),
          polls: r.polls,
        })),
      },
    },
    miss: {
      rounds: MISSES,
      runnerDirectMs: { p50: round(percentile(direct, 50)), p95: round(percentile(direct, 95)) },
      viaEdgeMs: { p50: round(percentile(viaEdge, 50)), p95: round(percentile(viaEdge, 95)) },
      addedMs: {
        p50: round(percentile(added, 50)),
        p95: round(percentile(added, 95)),
        all: added.map((a) => round(a)),
      },
    },
  };
  // Written through prettier so `npm run format` stays green on generated files.
  const style = (await resolveConfig(join(OUT_DIR, 'RESULTS.md'))) ?? {};
  const pretty = (text: string, parser: string): Promise<string> => format(text, { ...style, parser });
  writeFileSync(join(OUT_DIR, 'results.json'), await pretty(JSON.stringify(results, null, 2), 'json'));
  const md = `# edge benchmark (wrangler dev, loopback)

Generated by \`npm run bench:edge\` (bench/edge/run.ts) on ${results.date.slice(0, 10)}: ${results.machine.cpu}, ${results.machine.cores} cores, Node ${results.machine.node}, 1-minute load average ${results.machine.loadAverage1mBefore} before the run. ${results.setup}. Source \`samples/${SAMPLE}\` (192x128) → 768x512 PNG (${outputBytes} bytes). Local \`wrangler dev\` (workerd + miniflare's R2 and Cache API simulators) is not the Cloudflare network: these numbers compare our own changes on one machine, not production latency. The machine is a shared, loaded 2-core box; expect noise.

## Cache hits

| measurement | requests | p50 (ms) | p95 (ms) | p99 (ms) | requests/s |
| --- | ---: | ---: | ---: | ---: | ---: |
| sequential, 1 client | ${SEQ_HITS} | ${results.hitSequential.p50Ms} | ${results.hitSequential.p95Ms} | ${results.hitSequential.p99Ms} | ${round(1000 / (seq.reduce((a, b) => a + b, 0) / seq.length))} |
| autocannon, ${LOAD_CONNECTIONS} connections, ${LOAD_SECONDS} s | ${load.requests.total} | ${load.latency.p50} | ${load.latency.p97_5} (p97.5) | ${load.latency.p99} | ${results.hitLoad.requestsPerSecond} |

Hits served by tier (sequential run): ${JSON.stringify(tiers)}. Errors under load: ${load.errors}, non-2xx: ${load.non2xx}. (autocannon reports p97.5, not p95.)

## Misses: the edge's added latency over the runner's own time

Each round uses a fresh seed, calls the runner's \`POST /v1/upscale\` directly, then the same parameters through the edge (a guaranteed miss: source fetch from the origin, cache key, Cache API + R2 lookups, runner call, streamed answer with the R2 write in \`waitUntil\`).

| rounds | runner direct p50 (ms) | via edge p50 (ms) | added p50 (ms) | added p95 (ms) |
| ---: | ---: | ---: | ---: | ---: |
| ${MISSES} | ${results.miss.runnerDirectMs.p50} | ${results.miss.viaEdgeMs.p50} | ${results.miss.addedMs.p50} | ${results.miss.addedMs.p95} |

Per-round added latency (ms): ${results.miss.addedMs.all.join(', ')}.

## The edge's deadline on a 512² miss

\`${LARGE}\` (the landscape sample resized to 512x512) at \`sr=4\` → 2048x2048 PNG, a fresh seed per request, ${LARGE_ROUNDS} rounds. **Off**: \`wait=${RUNNER_TIMEOUT_MS}\` (the runner timeout: no deadline), the viewer waits for the runner; the first byte is the upscaled image's. **On**: \`wait=${DEADLINE_MS}\`: the first byte is the original's (\`X-Oftsr-Cache: pending\`) at the deadline; the edge's own runner call goes on in the background (\`waitUntil\`) and stores the upscale in R2 (the work message, delayed until that call is over, finds it stored); "served" is when the URL, polled every 250 ms, first answers the upscaled image (\`hit\`).

| deadline | TTFB p50 (ms) | upscaled image served p50 (ms) | per round (TTFB / served, ms) |
| --- | ---: | ---: | --- |
| off | ${results.deadline512.off.ttfbMsP50} | ${results.deadline512.off.servedMsP50} | ${results.deadline512.off.all.map((r) => `${r.ttfbMs} / ${r.servedMs}`).join('; ')} |
| on (${DEADLINE_MS} ms) | ${results.deadline512.on.ttfbMsP50} | ${results.deadline512.on.servedMsP50} | ${results.deadline512.on.all.map((r) => `${r.ttfbMs} / ${r.servedMs}`).join('; ')} |

With the deadline on, the runner is called once (the edge's call goes on past the deadline), so the upscaled image is served about when it is with the deadline off (plus up to one 250 ms poll); the viewer is never held longer than the deadline.
`;
  writeFileSync(join(OUT_DIR, 'RESULTS.md'), await pretty(md, 'markdown'));
  console.log(md);
} finally {
  await Promise.all([stop(edge.proc), stop(runner.proc)]);
  origin.server.close();
  cleanup(edge.persistDir);
  rmSync(originDir, { recursive: true, force: true });
}
