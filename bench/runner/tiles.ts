/**
 * What larger tiles would buy. The model's margin (53 LR px, 56 after alignment) is recomputed on
 * both sides of every tile, so a 256² tile keeps only its central 144² and a 512² tile its central
 * 400². Real runner processes, one per `OFTSR_TILE_SIZES`, take the same images in alternation
 * (side by side in one run, so machine noise hits both), and the benchmark reports output
 * megapixels per second, the tiles, start-up (warm-up) time and resident memory. Every loop is
 * bounded; the runners are stopped by PID at the end.
 *
 *   npm run bench:tiles            → bench/runner/tiles.json + bench/runner/TILES.md
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { chooseTile, ModelManifest, planUpscale } from '@oftsr/shared';
import { patternImage, startRunner, type Runner } from '@oftsr/devkit';
import { machineInfo, round } from '../stats.ts';
import { residentBytes, timedUpscale } from './client.ts';

const TOKEN = 'bench-token-0123456789abcdef';
const OUT_DIR = fileURLToPath(new URL('./', import.meta.url));
/**
 * Label → runner settings. Every tile list gives the same pixels (contract 2: each image gets the
 * margin of replicated context first), so this is only a speed choice: the SDK's fixed sizes, the
 * old fixed 256² list, and the CPU default (one tile of exactly the frame up to 640², else 640² tiles).
 */
const CONFIGS = {
  '64,128,256 (fixed, before)': { OFTSR_TILE_SIZES: '64,128,256', OFTSR_FIXED_TILES: '1' },
  '128,256,320 (fixed, SDK sizes)': { OFTSR_TILE_SIZES: '128,256,320', OFTSR_FIXED_TILES: '1' },
  '640 (CPU default, frame-sized)': { OFTSR_TILE_SIZES: '640', OFTSR_FIXED_TILES: '0' },
} as const;
const SIZES = [
  [384, 3],
  [768, 2],
] as const;

type Name = keyof typeof CONFIGS;

/** One (setting, input size) result. */
interface Row {
  config: Name;
  lr: string;
  runs: number;
  tiles: string;
  mean_latency_ms: number;
  output_mp_per_s: number;
  model_only_output_mp_per_s: number;
}

const manifest = ModelManifest.parse(
  JSON.parse(readFileSync(new URL('../../models/oftsr-student-x4.json', import.meta.url), 'utf8')),
);

/** Tiles the runner runs for a `size`² input under a setting (the shared planner's plan). */
function tileCount(name: Name, size: number): string {
  const sizes = CONFIGS[name].OFTSR_TILE_SIZES.split(',').map(Number);
  const tile = chooseTile(sizes, manifest, size, size);
  const plan = planUpscale(manifest, size, size, {
    tile,
    fixedTile: CONFIGS[name].OFTSR_FIXED_TILES === '1',
  });
  return `${plan.tiles.length} × ${plan.tileWidth}x${plan.tileHeight}`;
}

/** One timed upscale; any answer but 200 stops the benchmark (nothing here should be refused). */
async function send(runner: Runner, body: Buffer): Promise<{ ms: number; inferMs: number }> {
  const r = await timedUpscale(runner.url, TOKEN, body);
  if (r.status !== 200) throw new Error(`runner answered ${r.status}`);
  return r;
}

const runners = new Map<Name, Runner>();
const startupS: Record<string, number> = {};
try {
  // Started one after the other, so each warm-up runs on an idle machine.
  for (const name of Object.keys(CONFIGS) as Name[]) {
    const t = performance.now();
    const env = { OFTSR_AUTH_TOKENS: TOKEN, OFTSR_MAX_BATCH: '1', ...CONFIGS[name] };
    runners.set(name, await startRunner({ env, readyTimeoutMs: 300_000 }));
    startupS[name] = round((performance.now() - t) / 1000, 1);
  }
  const rows: Row[] = [];
  for (const [size, runs] of SIZES) {
    const body = await patternImage(size, size);
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
        config: name,
        lr: `${size}x${size}`,
        runs,
        tiles: tileCount(name, size),
        mean_latency_ms: round(ms, 1),
        output_mp_per_s: round(outMp / (ms / 1000), 3),
        model_only_output_mp_per_s: round(outMp / (inferMs / 1000), 3),
      });
      console.error(JSON.stringify(rows.at(-1)));
    }
  }
  const memory: Record<string, number> = {};
  for (const [name, r] of runners) memory[name] = round((await residentBytes(r.url)) / 2 ** 20, 1);
  const results = {
    date: new Date().toISOString(),
    machine: machineInfo(),
    provider: 'cpu',
    configs: CONFIGS,
    startup_s: startupS,
    rss_mb_after: memory,
    throughput: rows,
  };
  writeFileSync(`${OUT_DIR}tiles.json`, `${JSON.stringify(results, null, 2)}\n`);
  const baseline = Object.keys(CONFIGS)[0] as Name;
  const mps = (name: string, size: number): number =>
    rows.find((r) => r.config === name && r.lr === `${size}x${size}`)?.output_mp_per_s ?? NaN;
  const md = [
    '# Runner tile sizes (CPU)',
    '',
    `Generated by \`npm run bench:tiles\` on ${results.date.slice(0, 10)} (${results.machine.cpu}, ${results.machine.cores} cores, Node ${results.machine.node}); the runners side by side, requests alternated. Raw numbers: tiles.json.`,
    '',
    `| runner setting | LR input | tiles run | latency ms | output MP/s | vs ${baseline} |`,
    '| --- | --- | --- | ---: | ---: | ---: |',
    ...rows.map((r) => {
      const size = Number(r.lr.split('x')[0]);
      const gain = round(r.output_mp_per_s / mps(baseline, size), 2);
      return `| ${r.config} | ${r.lr} | ${r.tiles} | ${r.mean_latency_ms} | ${r.output_mp_per_s} | ${gain}× |`;
    }),
    '',
    '| runner setting | start-up s (load + warm every tile shape) | resident MB after the run |',
    '| --- | ---: | ---: |',
    ...Object.keys(CONFIGS).map((name) => `| ${name} | ${startupS[name]} | ${memory[name]} |`),
    '',
  ].join('\n');
  writeFileSync(`${OUT_DIR}TILES.md`, md);
  console.log(md);
} finally {
  await Promise.all([...runners.values()].map((r) => r.kill()));
}
