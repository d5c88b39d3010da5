/**
 * Which tile sizes should the runner warm? The model's margin (53 LR px, 56 after alignment) is
 * recomputed on both sides of every tile, so a 256² tile keeps only its central 144² and a 512²
 * tile its central 400². Two real runner processes, one per `OFTSR_TILE_SIZES`, take the same
 * images in alternation (side by side in one run, so machine noise hits both), and the benchmark
 * reports output megapixels per second, the tile count, start-up (warm-up) time and resident
 * memory. Every loop is bounded; the runners are stopped by PID at the end.
 *
 *   npm run bench:tiles            → bench/runner/tiles.json + bench/runner/TILES.md
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { chooseTile, ModelManifest, planUpscale } from '@oftsr/shared';
import sharp from 'sharp';
import { startRunner, type RunnerProcess } from '../../apps/gpu-runner/src/testing/runner-process.ts';
import { patternPixels } from '../../apps/gpu-runner/src/testing/fixtures.ts';
import { machineInfo, round } from '../stats.ts';

const TOKEN = 'bench-token-0123456789abcdef';
const OUT_DIR = fileURLToPath(new URL('./', import.meta.url));
const CONFIGS = { 'up to 256': '64,128,256', 'up to 512': '64,128,256,512' } as const;
const SIZES = [
  [384, 3],
  [768, 2],
] as const;

type Name = keyof typeof CONFIGS;

const manifest = ModelManifest.parse(
  JSON.parse(readFileSync(new URL('../../models/oftsr-student-x4.json', import.meta.url), 'utf8')),
);

/** Tiles the runner runs for a `size`² input under a tile-size list (the shared planner's count). */
function tileCount(sizes: string, size: number): number {
  const tile = chooseTile(sizes.split(',').map(Number), size, size, manifest.alignment);
  return planUpscale(manifest, size, size, { tile, fixedTile: true }).tiles.length;
}

async function image(size: number): Promise<Buffer> {
  return sharp(Buffer.from(patternPixels(size, size)), { raw: { width: size, height: size, channels: 3 } })
    .png()
    .toBuffer();
}

async function send(runner: RunnerProcess, body: Buffer): Promise<{ ms: number; inferMs: number }> {
  const start = performance.now();
  const res = await fetch(`${runner.url}/v1/upscale?format=png`, {
    method: 'POST',
    body,
    headers: { 'content-type': 'image/png', authorization: `Bearer ${TOKEN}` },
  });
  if (res.status !== 200) throw new Error(`runner answered ${res.status}: ${await res.text()}`);
  await res.arrayBuffer();
  const timing = res.headers.get('server-timing') ?? '';
  const infer = /infer;dur=([\d.]+)/.exec(timing);
  return { ms: performance.now() - start, inferMs: infer ? Number(infer[1]) : NaN };
}

async function rssMb(runner: RunnerProcess): Promise<number> {
  const text = await (await fetch(`${runner.url}/metrics`)).text();
  const line = text.split('\n').find((l) => l.startsWith('oftsr_process_resident_memory_bytes '));
  return round(Number(line?.split(' ')[1] ?? NaN) / 2 ** 20, 1);
}

const runners = new Map<Name, RunnerProcess>();
const startupS = new Map<Name, number>();
try {
  // Started one after the other, so each warm-up runs on an idle machine.
  for (const [name, sizes] of Object.entries(CONFIGS) as [Name, string][]) {
    const t = performance.now();
    runners.set(
      name,
      await startRunner({ OFTSR_AUTH_TOKENS: TOKEN, OFTSR_TILE_SIZES: sizes, OFTSR_MAX_BATCH: '1' }, 300_000),
    );
    startupS.set(name, round((performance.now() - t) / 1000, 1));
  }
  const rows = [];
  for (const [size, runs] of SIZES) {
    const body = await image(size);
    const samples = new Map<Name, { ms: number; inferMs: number }[]>();
    for (const runner of runners.values()) await send(runner, body); // untimed first request
    for (let k = 0; k < runs; k++) {
      for (const [name, runner] of runners) {
        const list = samples.get(name) ?? [];
        list.push(await send(runner, body));
        samples.set(name, list);
      }
    }
    const outMp = (16 * size * size) / 1e6;
    for (const [name, list] of samples) {
      const ms = list.reduce((a, s) => a + s.ms, 0) / list.length;
      const inferMs = list.reduce((a, s) => a + s.inferMs, 0) / list.length;
      rows.push({
        tile_sizes: CONFIGS[name],
        lr: `${size}x${size}`,
        runs,
        tiles: tileCount(CONFIGS[name], size),
        mean_latency_ms: round(ms, 1),
        output_mp_per_s: round(outMp / (ms / 1000), 3),
        model_only_output_mp_per_s: round(outMp / (inferMs / 1000), 3),
      });
      console.error(JSON.stringify(rows.at(-1)));
    }
  }
  const memory = Object.fromEntries(
    await Promise.all([...runners].map(async ([name, r]) => [CONFIGS[name], await rssMb(r)] as const)),
  );
  const results = {
    date: new Date().toISOString(),
    machine: machineInfo(),
    provider: 'cpu',
    startup_s: Object.fromEntries([...startupS].map(([name, s]) => [CONFIGS[name], s])),
    rss_mb_after: memory,
    throughput: rows,
  };
  writeFileSync(`${OUT_DIR}tiles.json`, `${JSON.stringify(results, null, 2)}\n`);
  const speedup = (size: number): string => {
    const [a, b] = Object.values(CONFIGS).map(
      (c) => rows.find((r) => r.tile_sizes === c && r.lr === `${size}x${size}`)?.output_mp_per_s ?? NaN,
    );
    return `${round((b as number) / (a as number), 2)}×`;
  };
  const md = [
    '# Runner tile sizes (CPU)',
    '',
    `Generated by \`npm run bench:tiles\` on ${results.date.slice(0, 10)} (${results.machine.cpu}, ${results.machine.cores} cores, Node ${results.machine.node}); two runners side by side, requests alternated. Raw numbers: tiles.json.`,
    '',
    '| OFTSR_TILE_SIZES | LR input | tiles | latency ms | output MP/s | model-only MP/s |',
    '| --- | --- | ---: | ---: | ---: | ---: |',
    ...rows.map(
      (r) =>
        `| ${r.tile_sizes} | ${r.lr} | ${r.tiles} | ${r.mean_latency_ms} | ${r.output_mp_per_s} | ${r.model_only_output_mp_per_s} |`,
    ),
    '',
    `Speed-up of adding 512: ${SIZES.map(([s]) => `${s}² → ${speedup(s)}`).join(', ')}. Start-up (model load + warming every tile shape): ${Object.entries(
      results.startup_s,
    )
      .map(([k, v]) => `${k}: ${v} s`)
      .join(', ')}. Resident memory after the run: ${Object.entries(memory)
      .map(([k, v]) => `${k}: ${v} MB`)
      .join(', ')}.`,
    '',
  ].join('\n');
  writeFileSync(`${OUT_DIR}TILES.md`, md);
  console.log(md);
} finally {
  await Promise.all([...runners.values()].map((r) => r.kill()));
}
