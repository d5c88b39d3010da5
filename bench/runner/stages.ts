/**
 * Where a request's time goes, stage by stage, in one process (CPU, onnxruntime-node): decode, tensor
 * conversion (pixels → CHW, padding, tile copies, CHW → pixels), noise, model, blending and encode
 * (PNG, WebP, AVIF, JPEG) for 128² to 1024² LR inputs, beside the bare model's time (`session.run` on
 * the same tiles) and the real end-to-end path (decode → `upscaleImage` → PNG). Also: encoder effort
 * and compression at our output sizes, and the CLI's wall time to a first output for a 128² image.
 *
 * With `--baseline DIR` (a copy of an older tree with its own `node_modules/@oftsr/*` links) each
 * tree runs in its own child process, alternating baseline/current twice, so before and after come
 * from the same machine in the same run.
 *
 *   npm run bench:stages [-- --baseline DIR]   → bench/runner/stages.json + bench/runner/STAGES.md
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import sharp from 'sharp';
import type { Sharp } from 'sharp';
import { patternImage } from '@oftsr/devkit';
import { machineInfo, round } from '../stats.ts';

const HERE = fileURLToPath(new URL('./', import.meta.url));
const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const SIZES: readonly number[] = process.env.OFTSR_STAGES_SIZES?.split(',').map(Number) ?? [
  128, 256, 512, 1024,
];
const FORMATS = ['png', 'webp', 'avif', 'jpeg'] as const;
const QUALITY = 85;
/** bench/runner/gpu.sh sets `cuda` and its own output name. */
const PROVIDER = process.env.OFTSR_STAGES_PROVIDER ?? 'cpu';
const OUT_NAME = process.env.OFTSR_STAGES_OUT ?? 'stages';
/** A photograph (B100, 481×321) cropped and resized to each input size; else the synthetic pattern. */
const PHOTO = join(ROOT, '../shared/datasets/test/B100/img_020.png');

type Stage = 'decode' | 'to_tensor' | 'noise' | 'model' | 'blend' | 'from_tensor';
interface SizeResult {
  lr: number;
  out_mp: number;
  tile: number;
  tiles: number;
  stages_ms: Record<Stage, number>;
  encode: Record<(typeof FORMATS)[number], { ms: number; bytes: number }>; // PNG only before
  bare_model_ms: number;
  e2e_png_ms: number;
  e2e_png_cold_cache_ms: number | null;
}
interface WorkerResult {
  variant: string;
  model_load_ms: number;
  sizes: SizeResult[];
  noise_cache: { hits: number; misses: number } | null;
  encode_sweep?: SweepRow[];
}
interface SweepRow {
  out: string;
  format: string;
  setting: string;
  ms: number;
  bytes: number;
}

const argv = process.argv.slice(2);
// OFTSR_STAGES_SIZES=128,256 limits the sizes (a quick check of the script itself).
const flag = (name: string): string | undefined => {
  const i = argv.indexOf(name);
  return i === -1 ? undefined : argv[i + 1];
};

/** One tree, measured in this process. */
async function worker(root: string, variant: string, sweep: boolean): Promise<WorkerResult> {
  // The first path that exists in `root`: a baseline tree may predate the runner's src/ folders.
  const from = (...paths: string[]) =>
    import(
      pathToFileURL(join(root, paths.find((p) => existsSync(join(root, p))) ?? (paths[0] as string))).href
    );
  const src = (now: string, before: string) =>
    from(`apps/gpu-runner/src/${now}`, `apps/gpu-runner/src/${before}`);
  const shared = await from('packages/shared/src/index.ts');
  const session = await src('inference/onnx-session.ts', 'session.ts');
  const io = await src('io/image-io.ts', 'image-io.ts');
  const pipe = await src('inference/pipeline.ts', 'pipeline.ts');
  const { upscaleImage } = await src('inference/upscale-image.ts', 'upscale-image.ts');
  const { Tensor } = await import('onnxruntime-node');
  const cache = pipe.RUNNER_NOISE_CACHE ?? null;
  const cfg = await from('apps/gpu-runner/src/config.ts');
  const tiling: { tileSizes: number[]; fixedTiles: boolean } | undefined =
    cfg.PROVIDER_TILING?.[PROVIDER === 'cpu' ? 'cpu' : 'other'];

  const loadStart = performance.now();
  const model = await session.loadModel({ providers: [PROVIDER] });
  const modelLoadMs = performance.now() - loadStart;
  const { manifest } = model;
  const s = manifest.scale as number;
  const params = shared.parseParamsFromJson({ format: 'png' });
  const sizes: SizeResult[] = [];
  const sweepRows: SweepRow[] = [];

  for (const size of SIZES) {
    const bytes: Buffer = existsSync(PHOTO)
      ? await sharp(PHOTO).resize(size, size, { fit: 'cover' }).removeAlpha().png().toBuffer()
      : await patternImage(size, size);
    // The runner's tiling for PROVIDER (contract 2: by device); older trees: the fixed default list.
    const options = tiling
      ? { tile: shared.chooseTile(tiling.tileSizes, manifest, size, size), fixedTile: tiling.fixedTiles }
      : {
          tile: shared.chooseTile(shared.DEFAULT_TILE_SIZES, size, size, manifest.alignment),
          fixedTile: true,
        };
    const e2e = async () => {
      const t = performance.now();
      const image = await io.decodeImage(bytes);
      await upscaleImage(model, image, params, options);
      return performance.now() - t;
    };
    // Warms this tile shape (and the noise cache, where it can hold the windows).
    await e2e();
    let cold: number | null = null;
    if (cache && size <= 512) {
      cache.clear();
      cold = await e2e();
    }
    const e2eMs = await e2e();

    // The same work, stage by stage, with the tree's own functions.
    const T: Record<Stage, number> = {
      decode: 0,
      to_tensor: 0,
      noise: 0,
      model: 0,
      blend: 0,
      from_tensor: 0,
    };
    const timed = async <R>(stage: Stage, f: () => R | Promise<R>): Promise<R> => {
      const t = performance.now();
      const r = await f();
      T[stage] += performance.now() - t;
      return r;
    };
    const image = await timed('decode', () => io.decodeImage(bytes));
    const { rgb } = await timed('to_tensor', () =>
      shared.pixelsToTensor(image.pixels, size, size, image.channels, image.bitDepth),
    );
    const plan = shared.planUpscale(manifest, size, size, options);
    const { tileWidth: tw, tileHeight: th } = plan;
    const padded: Float32Array = await timed('to_tensor', () =>
      plan.width === size && plan.height === size
        ? rgb
        : shared.padReplicate(rgb, 3, size, size, plan.width, plan.height),
    );
    const single = cache !== null && plan.tiles.length === 1;
    const blender = single
      ? null
      : new shared.TileBlender(plan, { channels: 3, scale: s, margin: manifest.margin });
    let whole: Float32Array | null = null;
    const bands =
      shared.NoiseBands && plan.tiles.length > 1 ? new shared.NoiseBands(0, plan, s, cache) : null;
    for (const t of plan.tiles) {
      const lr = await timed('to_tensor', () => {
        const out = new Float32Array(3 * tw * th);
        for (let c = 0; c < 3; c++)
          for (let y = 0; y < th; y++) {
            const src = (c * plan.height + t.y + y) * plan.width + t.x;
            out.set(padded.subarray(src, src + tw), (c * th + y) * tw);
          }
        return out;
      });
      const noise: Float32Array = await timed('noise', () =>
        bands
          ? bands.window(t)
          : cache
            ? cache.get(0, s * t.y, s * t.x, s * th, s * tw, 3)
            : shared.noiseField(0, s * t.y, s * t.x, s * th, s * tw),
      );
      const res = await timed('model', () =>
        model.session.run({
          lr: new Tensor('float32', lr, [1, 3, th, tw]),
          noise: new Tensor('float32', noise, [1, 3, s * th, s * tw]),
          t: new Tensor('float32', new Float32Array([params.t]), [1]),
        }),
      );
      const out = res.sr.data as Float32Array;
      await timed('blend', () => (blender ? blender.add(t.index, out) : (whole = out)));
    }
    const W = s * size;
    const sr: Float32Array = await timed('blend', () => {
      const full = blender ? blender.result() : (whole as unknown as Float32Array);
      return plan.width === size && plan.height === size
        ? full
        : shared.cropChw(full, 3, plan.width * s, plan.height * s, W, W);
    });
    const pixels = await timed('from_tensor', () =>
      shared.tensorToPixels(sr, null, W, W, { channels: image.channels, bitDepth: image.bitDepth }),
    );
    const raw = { pixels, width: W, height: W, channels: image.channels, bitDepth: image.bitDepth };
    const encode = {} as SizeResult['encode'];
    // The baseline's AVIF default (effort 4) takes seconds per output MP: only PNG is encoded there.
    for (const format of variant === 'after' ? FORMATS : (['png'] as const)) {
      const t = performance.now();
      const data: Buffer = await io.encodeImage(raw, { format, quality: QUALITY });
      encode[format] = { ms: round(performance.now() - t, 1), bytes: data.length };
    }
    if (sweep && (size === 256 || size === 512)) sweepRows.push(...(await encodeSweep(raw, `${W}x${W}`)));
    sizes.push({
      lr: size,
      out_mp: round((W * W) / 1e6, 3),
      // The tile shape the plan runs (a frame-sized tile is smaller than the size chosen).
      tile: plan.tileWidth,
      tiles: plan.tiles.length,
      stages_ms: Object.fromEntries(Object.entries(T).map(([k, v]) => [k, round(v, 1)])) as Record<
        Stage,
        number
      >,
      encode,
      bare_model_ms: round(T.model, 1),
      e2e_png_ms: round(e2eMs, 1),
      e2e_png_cold_cache_ms: cold === null ? null : round(cold, 1),
    });
    console.error(`${variant} ${size}²: ${JSON.stringify(sizes.at(-1))}`);
  }
  return {
    variant,
    model_load_ms: round(modelLoadMs, 1),
    sizes,
    noise_cache: cache ? { hits: cache.hits, misses: cache.misses } : null,
    ...(sweep ? { encode_sweep: sweepRows } : {}),
  };
}

/** Encoder settings at one output size: PNG zlib level, WebP/AVIF effort, JPEG with and without mozjpeg. */
async function encodeSweep(
  raw: { pixels: Uint8Array; width: number; height: number; channels: number },
  out: string,
): Promise<SweepRow[]> {
  type Setting = [format: string, setting: string, apply: (p: Sharp) => Sharp];
  const settings: Setting[] = [
    ...[1, 3, 6, 9].map((level): Setting => [
      'png',
      `compressionLevel ${level}`,
      (p) => p.png({ compressionLevel: level }),
    ]),
    ...[1, 3, 6].map((level): Setting => [
      'png',
      `compressionLevel ${level}, adaptiveFiltering`,
      (p) => p.png({ compressionLevel: level, adaptiveFiltering: true }),
    ]),
    ...[0, 2, 4, 6].map((effort): Setting => [
      'webp',
      `q${QUALITY} effort ${effort}`,
      (p) => p.webp({ quality: QUALITY, effort }),
    ]),
    // Effort 4 (libaom's default) and 6 take seconds per MP: measured at 1 MP only.
    ...(raw.width * raw.height > 2e6 ? [0, 2] : [0, 2, 4, 6]).map((effort): Setting => [
      'avif',
      `q${QUALITY} effort ${effort}`,
      (p) => p.avif({ quality: QUALITY, effort }),
    ]),
    ['jpeg', `q${QUALITY} mozjpeg`, (p) => p.jpeg({ quality: QUALITY, mozjpeg: true })],
    ['jpeg', `q${QUALITY} libjpeg-turbo`, (p) => p.jpeg({ quality: QUALITY })],
  ];
  const rows: SweepRow[] = [];
  for (const [format, setting, apply] of settings) {
    const input = sharp(raw.pixels, {
      raw: { width: raw.width, height: raw.height, channels: raw.channels as 3 },
      limitInputPixels: false,
    });
    const t = performance.now();
    const data = await apply(input).toBuffer();
    rows.push({ out, format, setting, ms: round(performance.now() - t, 1), bytes: data.length });
  }
  return rows;
}

/** Wall time of the CLI upscaling a 128² PNG, start-up included, `runs` times. */
async function cliWall(cli: string[], runs: number): Promise<number[]> {
  const dir = mkdtempSync(join(tmpdir(), 'oftsr-stages-'));
  try {
    const input = join(dir, 'in.png');
    writeFileSync(input, await patternImage(128, 128));
    const times: number[] = [];
    for (let k = 0; k < runs; k++) {
      const t = performance.now();
      const r = spawnSync(
        cli[0] as string,
        [...cli.slice(1), 'upscale', input, '-o', join(dir, 'out.png'), '--overwrite', '--no-progress'],
        {
          encoding: 'utf8',
        },
      );
      if (r.status !== 0) throw new Error(`CLI failed: ${r.stderr}`);
      times.push(performance.now() - t);
    }
    return times;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

function runWorker(root: string, variant: string, sweep: boolean): WorkerResult {
  const args = [
    fileURLToPath(import.meta.url),
    '--worker',
    root,
    '--variant',
    variant,
    ...(sweep ? ['--sweep'] : []),
  ];
  const r = spawnSync(process.execPath, args, {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'inherit'],
    cwd: root,
  });
  if (r.status !== 0) throw new Error(`${variant} worker failed (${r.status})`);
  return JSON.parse(r.stdout) as WorkerResult;
}

const mean = (v: number[]) => v.reduce((a, b) => a + b, 0) / v.length;

const workerRoot = flag('--worker');
if (workerRoot) {
  const result = await worker(workerRoot, flag('--variant') ?? 'current', argv.includes('--sweep'));
  process.stdout.write(JSON.stringify(result));
  process.exit(0);
}

const baseline = flag('--baseline');
const start = performance.now();
const rounds: WorkerResult[] = [];
// OFTSR_STAGES_ROUNDS=1 halves the run (a busy machine); the default alternates twice.
const ROUNDS = Number(process.env.OFTSR_STAGES_ROUNDS ?? 2);
for (let k = 0; k < ROUNDS; k++) {
  if (baseline) rounds.push(runWorker(baseline, 'before', false));
  rounds.push(runWorker(ROOT, 'after', k === 0));
}
const median = (v: number[]) => [...v].sort((a, b) => a - b)[Math.floor(v.length / 2)] as number;
const cli = {
  after_bin_oftsr_ms: await cliWall([join(ROOT, 'bin/oftsr')], 5),
  after_node_ms: await cliWall([process.execPath, join(ROOT, 'apps/gpu-runner/src/cli/main.ts')], 5),
  ...(baseline
    ? {
        before_node_ms: await cliWall(
          [process.execPath, join(baseline, 'apps/gpu-runner/src/cli/main.ts')],
          5,
        ),
      }
    : {}),
};

/** Means over rounds of one variant, with the shares the issue asks about. */
function summarise(variant: string) {
  const runs = rounds.filter((r) => r.variant === variant);
  return SIZES.map((lr, i) => {
    const at = runs.map((r) => r.sizes[i] as SizeResult);
    const stage = (k: Stage) => round(mean(at.map((a) => a.stages_ms[k])), 1);
    const stages = Object.fromEntries(
      (['decode', 'to_tensor', 'noise', 'model', 'blend', 'from_tensor'] as Stage[]).map((k) => [
        k,
        stage(k),
      ]),
    ) as Record<Stage, number>;
    const encodePng = round(mean(at.map((a) => a.encode.png.ms)), 1);
    const sum = Object.values(stages).reduce((a, b) => a + b, 0) + encodePng;
    const e2e = round(mean(at.map((a) => a.e2e_png_ms)), 1);
    const outMp = at[0]?.out_mp ?? 0;
    const colds = at.map((a) => a.e2e_png_cold_cache_ms).filter((v): v is number => v !== null);
    return {
      lr: `${lr}x${lr}`,
      out: `${4 * lr}x${4 * lr}`,
      tile: at[0]?.tile,
      tiles: at[0]?.tiles,
      stages_ms: stages,
      encode: Object.fromEntries(
        FORMATS.filter((f) => at.every((a) => a.encode[f])).map((f) => [
          f,
          { ms: round(mean(at.map((a) => a.encode[f].ms)), 1), bytes: at[0]?.encode[f].bytes ?? 0 },
        ]),
      ),
      e2e_png_ms: e2e,
      e2e_png_cold_cache_ms: colds.length ? round(mean(colds), 1) : null,
      bare_model_output_mp_per_s: round(outMp / (stages.model / 1000), 3),
      e2e_output_mp_per_s: round(outMp / (e2e / 1000), 3),
      e2e_share_of_bare_model: round(stages.model / e2e, 3),
      noise_and_conversions_share: round((stages.noise + stages.to_tensor + stages.from_tensor) / sum, 3),
    };
  });
}
const after = summarise('after');
const before = baseline ? summarise('before') : null;
const results = {
  date: new Date().toISOString(),
  machine: machineInfo(),
  conditions:
    (PROVIDER === 'cpu'
      ? 'shared 2-core machine with the training job running under nice 19 throughout (contention as is); '
      : '') +
    `onnxruntime-node ${PROVIDER} provider, default threads, batch 1, seed 0; tiles as the runner picks them for the provider (PROVIDER_TILING; trees before contract 2: DEFAULT_TILE_SIZES 64/128/256, fixed)`,
  baseline: baseline ? (flag('--baseline-label') ?? 'commit 5710627 (before issue 15)') : null,
  wall_s: round((performance.now() - start) / 1000, 1),
  after,
  before,
  cli_128_wall_ms: Object.fromEntries(Object.entries(cli).map(([k, v]) => [k, v.map((x) => round(x, 0))])),
  model_load_ms: Object.fromEntries(
    ['before', 'after'].map((v) => [v, rounds.filter((r) => r.variant === v).map((r) => r.model_load_ms)]),
  ),
  noise_cache: rounds.filter((r) => r.variant === 'after').map((r) => r.noise_cache),
  encode_sweep: rounds.find((r) => r.encode_sweep)?.encode_sweep ?? [],
  raw: rounds,
};
writeFileSync(join(HERE, `${OUT_NAME}.json`), `${JSON.stringify(results, null, 2)}\n`);

const pct = (v: number) => `${round(v * 100, 0)} %`;
const stageRow = (r: (typeof after)[number]) =>
  `| ${r.lr} | ${r.tiles} × ${r.tile}² | ${r.stages_ms.decode} | ${r.stages_ms.to_tensor} | ${r.stages_ms.noise} | ${r.stages_ms.model} | ${r.stages_ms.blend} | ${r.stages_ms.from_tensor} | ${r.encode.png?.ms} | ${r.e2e_png_ms} | ${pct(r.noise_and_conversions_share)} |`;
const stageHead = [
  '| LR input | tiles | decode | to tensor | noise | model (bare) | blend | from tensor | PNG encode | end to end (PNG) | noise + conversions |',
  '| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |',
];
const md = [
  `# gpu-runner stage breakdown (${PROVIDER.toUpperCase()})`,
  '',
  `Generated by \`node bench/runner/stages.ts${baseline ? ' --baseline DIR' : ''}\` (bench/runner/stages.ts) on ${results.date.slice(0, 10)}: ` +
    `${results.machine.cpu}, ${results.machine.cores} cores, Node ${results.machine.node}; ${results.wall_s} s in all. ` +
    `Conditions: ${results.conditions}. Each tree ran in its own process, alternating${baseline ? ' before/after' : ''} ${ROUNDS === 1 ? 'once' : `${ROUNDS} times`}; ` +
    `figures are the mean of the ${ROUNDS} round(s), in ms per request. "model (bare)" is \`session.run\` alone on the same tiles; ` +
    'the other stages are the same work done with the tree\'s own functions; "end to end" is the real path ' +
    '(decode → `upscaleImage` → PNG) on a warm process.',
  '',
  '## After (this tree)',
  '',
  ...stageHead,
  ...after.map(stageRow),
  '',
  ...(before ? [`## Before (${results.baseline})`, '', ...stageHead, ...before.map(stageRow), ''] : []),
  '## End to end against the bare model (PNG out)',
  '',
  '| LR input | bare model MP/s | end to end MP/s before | after | share of the bare model before | after | after, cold noise cache (ms) |',
  '| --- | ---: | ---: | ---: | ---: | ---: | ---: |',
  ...after.map((r, i) => {
    const b = before?.[i];
    return `| ${r.lr} | ${r.bare_model_output_mp_per_s} | ${b?.e2e_output_mp_per_s ?? '—'} | ${r.e2e_output_mp_per_s} | ${b ? pct(b.e2e_share_of_bare_model) : '—'} | ${pct(r.e2e_share_of_bare_model)} | ${r.e2e_png_cold_cache_ms ?? '—'} |`;
  }),
  '',
  `Noise cache (after, per process: hits/misses): ${results.noise_cache.map((c) => (c ? `${c.hits}/${c.misses}` : '—')).join(', ')}. ` +
    'Multi-tile plans cut tile noise from row bands (each output pixel computed once); bands and single-tile ' +
    "windows stay in the runner's 256 MiB cache across requests while they fit (a 1024² input's two 640²-tile " +
    'bands are 127 MiB each; under contract 1 its seven 256²-tile bands, 336 MiB, did not fit).',
  '',
  "## Encode by output format (after, quality 85, the runner's settings)",
  '',
  '| LR input | output | PNG ms | PNG bytes | WebP ms | WebP bytes | AVIF ms | AVIF bytes | JPEG ms | JPEG bytes |',
  '| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |',
  ...after.map(
    (r) =>
      `| ${r.lr} | ${r.out} | ${FORMATS.map((f) => `${r.encode[f]?.ms} | ${r.encode[f]?.bytes}`).join(' | ')} |`,
  ),
  '',
  '## Encoder settings (after, one run each)',
  '',
  '| output | format | setting | ms | bytes |',
  '| --- | --- | --- | ---: | ---: |',
  ...results.encode_sweep.map((r) => `| ${r.out} | ${r.format} | ${r.setting} | ${r.ms} | ${r.bytes} |`),
  '',
  '## Start-up: `upscale` of a 128² PNG, wall time including start-up (5 runs, median)',
  '',
  `- \`bin/oftsr\` (after; includes \`bin/setup cli\`'s check): ${round(median(cli.after_bin_oftsr_ms), 0)} ms`,
  `- \`node apps/gpu-runner/src/cli/main.ts\` after: ${round(median(cli.after_node_ms), 0)} ms` +
    (cli.before_node_ms ? `; before: ${round(median(cli.before_node_ms), 0)} ms` : ''),
  `- model session creation in the bench process: ${results.model_load_ms.after?.join(', ')} ms`,
  '',
].join('\n');
writeFileSync(join(HERE, `${OUT_NAME.toUpperCase()}.md`), md);
