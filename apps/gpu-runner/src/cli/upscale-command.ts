/**
 * `oftsr upscale IN [IN...] -o OUT`: validates parameters with the shared request schema, resolves
 * inputs to jobs, and runs them one by one with a progress bar over all tiles. One bad image does
 * not stop the others; the exit code says whether any failed.
 */
import { existsSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { dirname } from 'node:path';
import { performance } from 'node:perf_hooks';
import { chooseTile, OftsrError, parseParamsFromJson } from '@oftsr/shared';
import type { RequestParams, TilingOptions } from '@oftsr/shared';
import { writeFileAtomic } from '../io/atomic-write.ts';
import { PROVIDER_TILING } from '../config.ts';
import { decodeImage, probeImage } from '../io/image-io.ts';
import { planUpscale } from '../inference/pipeline.ts';
import type { LoadedModel } from '../inference/onnx-session.ts';
import { upscaleImage } from '../inference/upscale-image.ts';
import { openModel } from './model-options.ts';
import type { ModelCliOptions } from './model-options.ts';
import { createProgress } from './progress.ts';
import type { ProgressStream } from './progress.ts';
import { resolveTargets } from './targets.ts';
import type { Job } from './targets.ts';

/** Options of the upscale command, as commander hands them over. */
export interface UpscaleCliOptions extends ModelCliOptions {
  output: string;
  sr?: string;
  t?: string;
  seed?: string;
  format?: string;
  q?: string;
  tile?: number;
  overlap?: number;
  batch?: number;
  maxPixels?: number;
  overwrite?: boolean;
  progress?: boolean;
}

/** Streams and cancellation for a command run. */
export interface CommandIo {
  stdout: ProgressStream;
  stderr: ProgressStream;
  signal?: AbortSignal;
}

/**
 * Exit codes of the CLI, one per kind of failure: `failed` — at least one input was not written
 * (each named on stderr); `usage` — bad flags or arguments; `model` — the model could not be opened
 * (missing, invalid, hash mismatch, no usable provider); `internal` — a bug (the stack is printed);
 * `interrupted` — Ctrl-C or SIGTERM.
 */
export const EXIT = { ok: 0, failed: 1, usage: 2, model: 3, internal: 70, interrupted: 130 } as const;

/**
 * Request parameters from the CLI flags, through the one shared schema (flags arrive as text, like
 * a query string, so the same strict grammar applies).
 *
 * @throws OftsrError `bad_param` naming the field.
 */
export function paramsFromFlags(options: UpscaleCliOptions): RequestParams {
  const raw: Record<string, string> = {};
  for (const name of ['sr', 't', 'seed', 'format', 'q'] as const) {
    const value = options[name];
    if (value !== undefined) raw[name] = value;
  }
  return parseParamsFromJson(raw);
}

/** An error line for one input: always starts with the input's path. */
function inputError(input: string, err: unknown): string {
  const text = message(err);
  return text.startsWith(`${input}:`) ? text : `${input}: ${text}`;
}

function message(err: unknown): string {
  // The limit is the CLI's flag here, not the service's variable: name it.
  if (err instanceof OftsrError && err.code === 'too_large')
    return `${err.message} (raise it with --max-pixels N)`;
  if (err instanceof OftsrError) return err.message;
  if (err instanceof Error) return err.message;
  return String(err);
}

interface Planned {
  job: Job;
  tiling: TilingOptions;
  tiles: number;
}

/**
 * Runs the command.
 *
 * @returns the process exit code: 0 all written, 1 some image failed, 130 interrupted.
 * @throws OftsrError `bad_param` for bad flags (the caller exits 2), `model_contract` when the
 *   model cannot be opened.
 */
export async function runUpscale(
  inputs: readonly string[],
  options: UpscaleCliOptions,
  io: CommandIo,
): Promise<number> {
  const params = paramsFromFlags(options);
  const targets = await resolveTargets(inputs, options.output, params.format);
  const model: LoadedModel = await openModel(options, io.stderr);
  const decodeOptions = options.maxPixels === undefined ? {} : { maxPixels: options.maxPixels };
  const overlap = options.overlap === undefined ? {} : { overlap: options.overlap };
  // Any tiling gives the service's pixels (contract 2); without --tile, the runner's CPU tiling.
  const { tileSizes, fixedTiles } = PROVIDER_TILING.cpu;
  const tilingFor = (width: number, height: number): TilingOptions =>
    options.tile === undefined
      ? { tile: chooseTile(tileSizes, model.manifest, width, height), fixedTile: fixedTiles, ...overlap }
      : { tile: options.tile, ...overlap };
  // Fail on bad tiling flags once, before touching any image.
  planUpscale(model.manifest, model.manifest.alignment, model.manifest.alignment, {
    ...(options.tile === undefined ? {} : { tile: options.tile }),
    ...overlap,
  });

  for (const note of targets.skipped) io.stdout.write(`skipped ${note.path}: ${note.reason}\n`);
  let failures = targets.failed.length;
  for (const note of targets.failed) io.stderr.write(`error: ${note.path}: ${note.reason}\n`);

  // Read every header first: bad files fail fast, and the bar knows the total tile count.
  const planned: Planned[] = [];
  for (const job of targets.jobs) {
    if (!options.overwrite && existsSync(job.output)) {
      failures += 1;
      io.stderr.write(`error: ${job.input}: output ${job.output} exists (add --overwrite to replace it)\n`);
      continue;
    }
    try {
      const info = await probeImage(job.input, decodeOptions);
      const tiling = tilingFor(info.width, info.height);
      planned.push({
        job,
        tiling,
        tiles: planUpscale(model.manifest, info.width, info.height, tiling).tiles.length,
      });
    } catch (err) {
      failures += 1;
      io.stderr.write(`error: ${inputError(job.input, err)}\n`);
    }
  }
  if (planned.length === 0) {
    io.stderr.write(`error: no images to upscale\n`);
    return EXIT.failed;
  }

  const progress = createProgress(io.stdout, io.stderr, options.progress === false);
  progress.start(planned.reduce((sum, p) => sum + p.tiles, 0));
  let written = 0;
  try {
    for (const { job, tiling, tiles } of planned) {
      io.signal?.throwIfAborted();
      const started = performance.now();
      let ticked = 0;
      try {
        const image = await decodeImage(job.input, decodeOptions);
        const result = await upscaleImage(model, image, params, {
          ...tiling,
          ...(options.batch === undefined ? {} : { batch: options.batch }),
          ...(io.signal ? { signal: io.signal } : {}),
          format: job.format,
          onProgress: (done) => {
            progress.tick(done - ticked);
            ticked = done;
          },
        });
        await mkdir(dirname(job.output), { recursive: true });
        await writeFileAtomic(job.output, result.data);
        written += 1;
        const seconds = ((performance.now() - started) / 1000).toFixed(1);
        progress.log(
          `${job.input} -> ${job.output} (${image.width}x${image.height} -> ${result.width}x${result.height}, ` +
            `${tiles} tile${tiles === 1 ? '' : 's'}, ${seconds} s)`,
        );
      } catch (err) {
        if (io.signal?.aborted) throw err;
        failures += 1;
        progress.tick(tiles - ticked);
        progress.error(`error: ${inputError(job.input, err)}`);
      }
    }
  } finally {
    progress.stop();
  }
  io.stdout.write(
    `done: ${written} written${failures ? `, ${failures} failed` : ''} ` +
      `(sr=${params.sr} t=${params.t} seed=${params.seed}, ${model.provider})\n`,
  );
  return failures > 0 ? EXIT.failed : EXIT.ok;
}
