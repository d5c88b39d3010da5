/**
 * Benchmarks the edge Worker under `wrangler dev --local` on 127.0.0.1, with the real runner
 * (CPU) and a local origin (the harness, @oftsr/devkit):
 * - cache hits: sequential latency p50/p95 (one client), then a bounded autocannon load
 *   (fixed connections, fixed duration) for requests/s and latency percentiles;
 * - misses: for fresh seeds, the runner called directly vs. the same request through the edge,
 *   interleaved; the difference is the edge's added latency (source fetch, key, R2 write start).
 * Every loop is bounded; all traffic stays on loopback; child processes are stopped at the end.
 *
 *   npm run bench:edge     → bench/edge/results.json + bench/edge/RESULTS.md
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import autocannon from 'autocannon';
import { format, resolveConfig } from 'prettier';
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

async function timed(url: string, init?: RequestInit): Promise<{ ms: number; res: Response; bytes: number }> {
  const t0 = performance.now();
  const res = await fetch(url, init);
  const bytes = (await res.arrayBuffer()).byteLength;
  return { ms: performance.now() - t0, res, bytes };
}

const loadBefore = loadavg()[0] ?? 0;
const origin = await startOrigin(join(ROOT, 'samples'));
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
  await timed(`${runner.url}/v1/upscale?sr=4&t=0.5&seed=999999`, {
    method: 'POST',
    body: source,
    headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'image/png' },
  }); // warm-up
  for (let i = 0; i < MISSES; i++) {
    const query = `format=png&q=85&seed=${1000 + i}&sr=4&t=0.5`;
    const d = await timed(`${runner.url}/v1/upscale?${query}`, {
      method: 'POST',
      body: source,
      headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'image/png' },
    });
    const e = await timed(`${edge.url}/${SAMPLE}?${query}`);
    if (d.res.status !== 200 || e.res.status !== 200 || e.res.headers.get('x-oftsr-cache') !== 'miss') {
      throw new Error(
        `miss round ${i}: runner ${d.res.status}, edge ${e.res.status} ${e.res.headers.get('x-oftsr-cache')}`,
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
    if (r.res.headers.get('x-oftsr-cache') !== 'hit')
      throw new Error(`expected a hit, got ${r.res.headers.get('x-oftsr-cache')}`);
    const tier = r.res.headers.get('x-oftsr-cache-tier') ?? '?';
    tiers[tier] = (tiers[tier] ?? 0) + 1;
    seq.push(r.ms);
  }
  const load = await autocannon({ url: hitUrl, connections: LOAD_CONNECTIONS, duration: LOAD_SECONDS });

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
`;
  writeFileSync(join(OUT_DIR, 'RESULTS.md'), await pretty(md, 'markdown'));
  console.log(md);
} finally {
  await Promise.all([stop(edge.proc), stop(runner.proc)]);
  origin.server.close();
  cleanup(edge.persistDir);
}
