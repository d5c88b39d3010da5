/**
 * Benchmarks the gpu-runner as a real process on 127.0.0.1 (CPU, onnxruntime-node): output
 * megapixels per second for 128², 256² and 512² LR inputs; latency p50/p95 at concurrency 1, 4 and
 * 16; and behaviour at 4× overload (an open-loop arrival rate of four times the measured capacity:
 * share of 429s, resident memory over time). Every loop is bounded in count or time, all traffic
 * stays on loopback, and the runner is stopped by its PID at the end.
 *
 *   npm run bench:runner            → bench/runner/results.json + bench/runner/RESULTS.md
 */
import { writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { RUNNER_ROUTES } from '@oftsr/shared';
import { patternImage, startRunner } from '@oftsr/devkit';
import { machineInfo, percentile, round } from '../stats.ts';
import { residentBytes, timedUpscale } from './client.ts';

const TOKEN = 'bench-token-0123456789abcdef';
const MAX_QUEUE = 16;
const OUT_DIR = fileURLToPath(new URL('./', import.meta.url));

const runner = await startRunner({
  env: {
    OFTSR_AUTH_TOKENS: TOKEN,
    OFTSR_MAX_QUEUE: String(MAX_QUEUE),
    OFTSR_MAX_BATCH: '4',
    OFTSR_MAX_DELAY_MS: '5',
    OFTSR_MAX_INPUT_MEGAPIXELS: '4',
    // The provider's default tiling (contract 2: any tile list gives the same pixels);
    // bench/runner/tiles.ts compares tile sets.
  },
  readyTimeoutMs: 180_000,
});

const send = (body: Buffer) => timedUpscale(runner.url, TOKEN, body);
const rssBytes = () => residentBytes(runner.url);

try {
  // 1. Throughput by input size (sequential, after one untimed request per size).
  const throughput = [];
  for (const [size, runs] of [
    [128, 4],
    [256, 3],
    [512, 2],
  ] as const) {
    const body = await patternImage(size, size);
    await send(body);
    const samples = [];
    for (let k = 0; k < runs; k++) samples.push(await send(body));
    const ms = samples.reduce((a, s) => a + s.ms, 0) / runs;
    const outMp = (16 * size * size) / 1e6;
    throughput.push({
      lr: `${size}x${size}`,
      out: `${4 * size}x${4 * size}`,
      runs,
      mean_latency_ms: round(ms, 1),
      output_mp_per_s: round(outMp / (ms / 1000), 3),
      model_only_output_mp_per_s: round(
        outMp / (samples.reduce((a, s) => a + s.inferMs, 0) / runs / 1000),
        3,
      ),
    });
    console.error(JSON.stringify(throughput.at(-1)));
  }

  // 2. Latency at concurrency 1, 4, 16 (closed loop, 128² inputs, a fixed number of requests).
  const small = await patternImage(128, 128);
  const latency = [];
  for (const concurrency of [1, 4, 16]) {
    const total = Math.max(8, concurrency * 3);
    const results: { status: number; ms: number }[] = [];
    let next = 0;
    const start = performance.now();
    await Promise.all(
      Array.from({ length: concurrency }, async () => {
        while (next < total) {
          next += 1;
          results.push(await send(small));
        }
      }),
    );
    const wall = (performance.now() - start) / 1000;
    const ok = results.filter((r) => r.status === 200).map((r) => r.ms);
    latency.push({
      concurrency,
      requests: total,
      ok: ok.length,
      p50_ms: round(percentile(ok, 50), 1),
      p95_ms: round(percentile(ok, 95), 1),
      requests_per_s: round(ok.length / wall, 3),
      output_mp_per_s: round((ok.length * 16 * 128 * 128) / 1e6 / wall, 3),
    });
    console.error(JSON.stringify(latency.at(-1)));
  }

  // 3. 4× overload: open-loop arrivals at four times the best measured capacity, for 20 s.
  const capacity = Math.max(...latency.map((l) => l.requests_per_s));
  const rate = 4 * capacity;
  const durationS = 20;
  const rss: { t_s: number; rss_mb: number }[] = [];
  const statuses: Record<string, number> = {};
  const okMs: number[] = [];
  const pending: Promise<void>[] = [];
  const rssBefore = await rssBytes();
  const start = performance.now();
  let sent = 0;
  // Sampled off the sending loop, so a slow answer never holds back the offered load.
  const healthMs: number[] = [];
  const sampler = setInterval(() => {
    const t = performance.now();
    void fetch(`${runner.url}${RUNNER_ROUTES.ready}`)
      .then(async (r) => {
        await r.arrayBuffer();
        healthMs.push(performance.now() - t);
        const bytes = await rssBytes();
        rss.push({ t_s: round((t - start) / 1000, 1), rss_mb: round(bytes / 2 ** 20, 1) });
      })
      .catch(() => {});
  }, 1000);
  while (performance.now() - start < durationS * 1000) {
    const elapsed = (performance.now() - start) / 1000;
    while (sent < elapsed * rate) {
      sent += 1;
      pending.push(
        send(small).then(
          (r) => {
            statuses[r.status] = (statuses[r.status] ?? 0) + 1;
            if (r.status === 200) okMs.push(r.ms);
          },
          () => {
            statuses.error = (statuses.error ?? 0) + 1;
          },
        ),
      );
    }
    await new Promise((r) => setTimeout(r, 10));
  }
  clearInterval(sampler);
  await Promise.all(pending);
  rss.sort((x, y) => x.t_s - y.t_s);
  await new Promise((r) => setTimeout(r, 1000));
  const rssAfter = await rssBytes();
  const early = rss.slice(2, 7).map((r) => r.rss_mb);
  const late = rss.slice(-5).map((r) => r.rss_mb);
  const mean = (v: number[]) => v.reduce((a, b) => a + b, 0) / Math.max(1, v.length);
  const overload = {
    capacity_requests_per_s: capacity,
    offered_requests_per_s: round(rate, 2),
    duration_s: durationS,
    sent,
    statuses,
    share_429: round((statuses['429'] ?? 0) / sent, 3),
    ok_p50_ms: round(percentile(okMs, 50), 1),
    ok_p95_ms: round(percentile(okMs, 95), 1),
    health_ready_p50_ms: round(percentile(healthMs, 50), 1),
    health_ready_max_ms: round(Math.max(...healthMs), 1),
    rss_mb_before: round(rssBefore / 2 ** 20, 1),
    rss_mb_early_mean: round(mean(early), 1),
    rss_mb_late_mean: round(mean(late), 1),
    rss_mb_after: round(rssAfter / 2 ** 20, 1),
    rss_samples: rss,
  };
  console.error(JSON.stringify({ ...overload, rss_samples: undefined }));

  const results = {
    date: new Date().toISOString(),
    machine: machineInfo(),
    runner: {
      provider: 'cpu',
      max_queue: MAX_QUEUE,
      max_batch: 4,
      max_delay_ms: 5,
      tile_sizes: [64, 128, 256],
    },
    gpu: 'not measured: no GPU machine was available to this run (see infra/README.md)',
    throughput,
    latency,
    overload,
  };
  writeFileSync(`${OUT_DIR}results.json`, `${JSON.stringify(results, null, 2)}\n`);
  const lateSpread = round(Math.max(...late) - Math.min(...late), 1);
  const md = [
    '# gpu-runner benchmark (CPU)',
    '',
    `Generated by \`npm run bench:runner\` (bench/runner/run.ts) on ${results.date.slice(0, 10)}: ${results.machine.cpu}, ` +
      `${results.machine.cores} cores, Node ${results.machine.node}. The runner is a real process on 127.0.0.1 ` +
      `(onnxruntime-node, CPU provider, tiles ${results.runner.tile_sizes.join('/')}, batch ≤ 4, queue ${MAX_QUEUE}). ` +
      'Numbers on a shared 2-core machine are noisy; compare runs on the same machine only.',
    '',
    '## Throughput by input size (sequential requests)',
    '',
    '| LR input | output | mean latency (ms) | output MP/s (end to end) | output MP/s (model pipeline) |',
    '| --- | --- | ---: | ---: | ---: |',
    ...throughput.map(
      (t) =>
        `| ${t.lr} | ${t.out} | ${t.mean_latency_ms} | ${t.output_mp_per_s} | ${t.model_only_output_mp_per_s} |`,
    ),
    '',
    "Every image gets 56 px of context on its right and bottom (the model's receptive field); on the CPU it",
    'then runs as one tile of exactly that frame up to 640², larger ones in 640² tiles overlapping by 56 px',
    '(runner README, OFTSR_TILE_SIZES / OFTSR_FIXED_TILES).',
    '',
    '## Latency by concurrency (128² inputs)',
    '',
    '| concurrency | requests | p50 (ms) | p95 (ms) | requests/s | output MP/s |',
    '| ---: | ---: | ---: | ---: | ---: | ---: |',
    ...latency.map(
      (l) =>
        `| ${l.concurrency} | ${l.requests} | ${l.p50_ms} | ${l.p95_ms} | ${l.requests_per_s} | ${l.output_mp_per_s} |`,
    ),
    '',
    '## 4× overload (open loop, 128² inputs)',
    '',
    `Offered ${overload.offered_requests_per_s} requests/s (4 × ${capacity}) for ${durationS} s: ${sent} requests, ` +
      `statuses ${JSON.stringify(statuses)}, **${round(overload.share_429 * 100, 1)} % answered 429** at once. ` +
      `Admitted requests: p50 ${overload.ok_p50_ms} ms, p95 ${overload.ok_p95_ms} ms. ` +
      `\`/v2/health/ready\` during the overload: p50 ${overload.health_ready_p50_ms} ms, max ${overload.health_ready_max_ms} ms.`,
    '',
    `Resident memory: ${overload.rss_mb_before} MB before, ${overload.rss_mb_early_mean} MB early in the overload ` +
      `(seconds 2–7), ${overload.rss_mb_late_mean} MB over its last 5 s (spread ${lateSpread} MB), ` +
      `${overload.rss_mb_after} MB after. The backlog is refused, not queued, so memory is bounded by ` +
      'OFTSR_MAX_QUEUE admitted requests; what rise there is happens while the heap warms up.',
    '',
    '## GPU',
    '',
    'Not measured: no GPU machine was available to this run. The CUDA path (and the WebGPU fallback) is',
    'unverified; see infra/README.md.',
    '',
  ].join('\n');
  writeFileSync(`${OUT_DIR}RESULTS.md`, md);
} finally {
  await runner.kill();
}
