/**
 * The choice between the device and the cloud: `createUpscaler` probes WebGPU once, runs each image
 * on the device (through {@link DeviceClient}) when the chosen path says so, and finishes it in the
 * cloud when the device fails to load or fails mid-run and a cloud is configured; a model that
 * failed to load disables the device for this upscaler. One image at a time; progress moves on
 * monotonically across both paths.
 */
import { DEFAULT_TILE_SIZES, OftsrError, chooseTile, parseParamsFromJson } from '@oftsr/shared';
import type { ModelManifest } from '@oftsr/shared';
import { choosePath, probeGpu, requiredBufferBytes } from './capabilities.ts';
import type { Capabilities, ExecutionPath } from './capabilities.ts';
import { cloudUpscale } from './cloud.ts';
import type { CloudOptions } from './cloud.ts';
import { DeviceClient, abortError, isDeviceFailure, isLoadFailure } from './device-client.ts';
import { decodeInput, encodePng, toOutput } from './image.ts';
import type { BlobFormat, ImageInput, OutputKind, OutputTypes } from './image.ts';
import type { DeviceProvider } from './protocol.ts';
import type { Preference } from './capabilities.ts';

/** Options of {@link createUpscaler}. */
export interface UpscalerOptions {
  /** URL of the model manifest (`oftsr-student-x4.json`); the ONNX file is fetched from beside it. */
  model: string | URL;
  /** The cloud to fall back to; without it the SDK runs on the device only. */
  cloud?: CloudOptions;
  /** `auto` (default), `device` or `cloud`; see the README's fallback rules. */
  prefer?: Preference;
  /** URL of the bundled worker; default `worker.js` beside this module. */
  workerUrl?: string | URL;
  /** Base URL of onnxruntime-web's wasm files; default `ort/` beside this module. */
  wasmPaths?: string | URL;
  /**
   * Try WebGPU graph capture (default false: with onnxruntime-web 1.30 on SwiftShader a replay failed
   * in createBindGroup; a capture that fails is dropped and the tile rerun without it).
   */
  graphCapture?: boolean;
  /** Tile sizes to choose from (the smallest holding the image, else the largest). */
  tileSizes?: readonly number[];
}

/**
 * What an upscale is doing: `load` (the model onto the device), `tiles` (running them), `cloud` (the
 * request is out), `retry` (the cloud is busy; waiting its `Retry-After`), `output` (done).
 */
export type ProgressStage = 'load' | 'tiles' | 'cloud' | 'retry' | 'output';

/**
 * A progress report: tiles done of total, where the work runs now, and the stage with an overall
 * `fraction` in [0, 1] that moves through loading, each tile (or the cloud's request and answer) and
 * the output — so a single-tile or cloud job moves too. `done` and `fraction` never go back.
 */
export interface Progress {
  done: number;
  total: number;
  where: ExecutionPath;
  stage: ProgressStage;
  fraction: number;
  /** Milliseconds since `upscale` was called. */
  elapsedMs: number;
}

/** What {@link Upscaler.warmup} prepares: a tile size (LR px), or an image size whose tile it uses. */
export type WarmupSize = number | { width: number; height: number };

/** Options of `upscale`. */
export interface UpscaleOptions<K extends OutputKind = 'blob'> {
  /** 4 (default) or 2 (the ×4 result reduced with Lanczos-3). */
  sr?: 2 | 4;
  /** Fidelity (0) to realism (1); default 0.5, rounded to 0.05 like the cloud. */
  t?: number;
  /** uint32 noise seed; default 0. Same seed → same image, on the device and in the cloud. */
  seed?: number;
  /** LR tile size (a multiple of 4, > 112 when the image needs several tiles); default by image size. */
  tileSize?: number;
  signal?: AbortSignal;
  onProgress?: (progress: Progress) => void;
  /** `blob` (default), `imageData` or `imageBitmap`. */
  output?: K;
  /** Blob format (default png) and quality 1..100 (jpeg/webp, default 85). */
  format?: BlobFormat;
  quality?: number;
}

/** The result of `upscale`. */
export interface UpscaleResult<K extends OutputKind = 'blob'> {
  image: OutputTypes[K];
  width: number;
  height: number;
  /** Where the image was computed. */
  ranOn: ExecutionPath;
  /** Why it ran there (the path chosen, or the device failure that sent it to the cloud). */
  reason: string;
  /** Set when the device started and the cloud finished. */
  fallbackFrom?: DeviceProvider;
  tiles: number;
  timings: { totalMs: number; inferMs?: number };
  /** Whether WebGPU graph capture was in use (device path). */
  graphCapture?: boolean;
}

/** Diagnostics for tests and demos. */
export interface Diagnostics {
  /** Whether an inference worker (and its GPU device) currently exists. */
  workerAlive: boolean;
  /** The loaded manifest, once the device path has loaded the model. */
  manifest?: ModelManifest;
  /** Whether the model bytes came from Cache Storage on the last load. */
  modelCached?: boolean;
  /** Why the device path is disabled for this upscaler, when it is. */
  deviceDisabled?: string;
}

/** An upscaler; see {@link createUpscaler}. */
export interface Upscaler {
  upscale<K extends OutputKind = 'blob'>(
    input: ImageInput,
    options?: UpscaleOptions<K>,
  ): Promise<UpscaleResult<K>>;
  /**
   * Probes the device and, when it will be used, loads the model and opens (compiles and runs once)
   * the session of each size: a tile size, or an image size's tile (default: the smallest tile). The
   * worker keeps one session, so warm the size you will upscale last. Aborting stops the worker.
   */
  warmup(sizes?: readonly WarmupSize[], options?: { signal?: AbortSignal }): Promise<Capabilities>;
  capabilities(): Promise<Capabilities>;
  diagnostics(): Diagnostics;
  dispose(): Promise<void>;
}

/**
 * Creates an upscaler.
 *
 * @example
 * const up = createUpscaler({ model: '/models/oftsr-student-x4.json', cloud: { runner: '/cloud' } });
 * const { image, ranOn } = await up.upscale(file, { t: 0.7, onProgress: (p) => bar.update(p) });
 */
export function createUpscaler(options: UpscalerOptions): Upscaler {
  const prefer = options.prefer ?? 'auto';
  if (!['auto', 'device', 'cloud'].includes(prefer)) {
    throw new OftsrError('bad_param', `prefer must be auto, device or cloud (got ${String(prefer)})`, {
      field: 'prefer',
    });
  }
  if (prefer === 'cloud' && !options.cloud) {
    throw new OftsrError('bad_param', 'prefer: cloud needs a cloud endpoint', { field: 'cloud' });
  }
  const base = import.meta.url;
  const device = new DeviceClient({
    manifestUrl: new URL(String(options.model), globalThis.location?.href ?? base).href,
    workerUrl: new URL(String(options.workerUrl ?? './worker.js'), base).href,
    wasmPaths: new URL(String(options.wasmPaths ?? './ort/'), base).href,
    graphCapture: options.graphCapture ?? false,
  });
  const tileSizes = [...(options.tileSizes ?? DEFAULT_TILE_SIZES)].sort((a, b) => a - b);
  let caps: Promise<Capabilities> | undefined;
  let deviceDisabled: string | undefined;
  let queue: Promise<unknown> = Promise.resolve();
  let disposed = false;

  function capabilities(): Promise<Capabilities> {
    caps ??= probeGpu().then(({ adapter, error }) => {
      const tile = tileSizes.at(-1) as number;
      const chosen = choosePath({
        prefer,
        adapter,
        ...(error ? { webgpuError: error } : {}),
        cloud: !!options.cloud,
        tile,
      });
      return {
        webgpu: adapter !== null,
        adapter,
        ...(error ? { webgpuError: error } : {}),
        requiredBufferBytes: requiredBufferBytes(tile),
        cloud: !!options.cloud,
        ...chosen,
      };
    });
    return caps;
  }

  async function upscaleOnce<K extends OutputKind>(
    input: ImageInput,
    opts: UpscaleOptions<K>,
  ): Promise<UpscaleResult<K>> {
    if (disposed) throw new OftsrError('unavailable', 'this upscaler was disposed');
    const start = performance.now();
    const params = parseParamsFromJson({ sr: opts.sr ?? 4, t: opts.t ?? 0.5, seed: opts.seed ?? 0 });
    const kind = (opts.output ?? 'blob') as K;
    const format = opts.format ?? 'png';
    const quality = opts.quality ?? 85;
    const { signal } = opts;
    signal?.throwIfAborted();
    if (
      opts.tileSize !== undefined &&
      (!Number.isInteger(opts.tileSize) || opts.tileSize < 4 || opts.tileSize % 4 !== 0)
    ) {
      throw new OftsrError('bad_param', `tileSize must be a positive multiple of 4 (got ${opts.tileSize})`, {
        field: 'tileSize',
      });
    }
    const image = await decodeInput(input, signal);
    signal?.throwIfAborted();
    const c = await capabilities();
    let where: ExecutionPath = deviceDisabled && c.path !== 'cloud' && options.cloud ? 'cloud' : c.path;
    let reason = where === c.path ? c.reason : `device disabled (${deviceDisabled}); using the cloud`;
    let lastDone = 0;
    let total = 1;
    let fraction = 0;
    const emit = (stage: ProgressStage, f: number): void => {
      fraction = Math.max(fraction, Math.min(1, f));
      opts.onProgress?.({
        done: lastDone,
        total,
        where,
        stage,
        fraction,
        elapsedMs: performance.now() - start,
      });
    };
    // Device: loading is the first 10 %, the tiles the next 85 %, the output the rest.
    const report = (done: number, t: number): void => {
      total = t;
      lastDone = Math.max(lastDone, done);
      emit('tiles', 0.1 + (0.85 * lastDone) / total);
    };
    let fallbackFrom: DeviceProvider | undefined;

    if (where !== 'cloud') {
      const provider: DeviceProvider = where;
      try {
        const loading = device.ready(provider, signal);
        emit('load', 0);
        const ready = await loading;
        const tile = opts.tileSize ?? chooseTile(tileSizes, ready.manifest, image.width, image.height);
        report(0, 1);
        const result = await device.run(image, params, tile, signal, report);
        const out = await toOutput(kind, result, format, quality);
        emit('output', 1);
        return {
          image: out,
          width: result.width,
          height: result.height,
          ranOn: provider,
          reason,
          tiles: total,
          timings: { totalMs: performance.now() - start, inferMs: result.inferMs },
          graphCapture: result.graphCapture,
        };
      } catch (err) {
        if (signal?.aborted) throw abortError(signal);
        if (!isDeviceFailure(err) || !options.cloud) throw err;
        const message = err instanceof Error ? err.message : String(err);
        device.stop();
        if (isLoadFailure(err)) deviceDisabled = `the model failed to load on ${provider}: ${message}`;
        fallbackFrom = provider;
        where = 'cloud';
        reason = `${provider} failed (${message}); finished in the cloud`;
      }
    }

    // Cloud: the request going out, the answer arriving and the output move the fraction on from
    // wherever the device left it.
    const from = fraction;
    const step = (share: number): number => from + (1 - from) * share;
    const bytes = image.blob ?? (await encodePng(image));
    const cloud = await cloudUpscale(
      options.cloud as CloudOptions,
      { bytes, ...(image.url ? { url: image.url } : {}) },
      params,
      signal,
      (e) => emit(e.type === 'retry' ? 'retry' : 'cloud', step(e.type === 'answered' ? 0.8 : 0.1)),
    );
    lastDone = total;
    emit('cloud', step(0.9));
    const out = await toOutput(kind, { blob: cloud.blob }, format, quality);
    emit('output', 1);
    return {
      image: out,
      width: cloud.width || image.width * params.sr,
      height: cloud.height || image.height * params.sr,
      ranOn: 'cloud',
      reason,
      ...(fallbackFrom ? { fallbackFrom } : {}),
      tiles: total,
      timings: { totalMs: performance.now() - start },
    };
  }

  return {
    upscale<K extends OutputKind = 'blob'>(
      input: ImageInput,
      opts: UpscaleOptions<K> = {},
    ): Promise<UpscaleResult<K>> {
      // One image at a time on the device; the next starts when this one settles.
      const run = queue.then(() => upscaleOnce(input, opts));
      queue = run.catch(() => undefined);
      return run;
    },
    async warmup(sizes: readonly WarmupSize[] = [], warmOptions: { signal?: AbortSignal } = {}) {
      const { signal } = warmOptions;
      signal?.throwIfAborted();
      const c = await capabilities();
      if (c.path === 'cloud' || deviceDisabled) return c;
      let manifest: ModelManifest;
      try {
        manifest = (await device.ready(c.path, signal, true)).manifest;
      } catch (err) {
        if (signal?.aborted || !options.cloud) throw err;
        device.stop();
        deviceDisabled = `the model failed to load on ${c.path}: ${err instanceof Error ? err.message : String(err)}`;
        return c;
      }
      for (const size of sizes) {
        const tile =
          typeof size === 'number' ? size : chooseTile(tileSizes, manifest, size.width, size.height);
        if (!Number.isInteger(tile) || tile < 4 || tile % 4 !== 0) {
          throw new OftsrError(
            'bad_param',
            `warmup sizes must give tiles that are multiples of 4 (got ${tile})`,
            {
              field: 'sizes',
            },
          );
        }
        await device.warm(tile, signal);
      }
      return c;
    },
    capabilities,
    diagnostics: () => ({
      workerAlive: device.alive,
      ...(device.manifest ? { manifest: device.manifest } : {}),
      ...(device.modelCached === undefined ? {} : { modelCached: device.modelCached }),
      ...(deviceDisabled ? { deviceDisabled } : {}),
    }),
    async dispose() {
      disposed = true;
      device.stop();
    },
  };
}
