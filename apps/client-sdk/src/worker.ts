/**
 * The SDK's Web Worker: loads the model, opens a fixed-shape onnxruntime-web session per tile size
 * and upscales decoded pixels with the shared pipeline (pad, tiles, noise, blend from
 * @oftsr/shared), so the main thread only decodes and encodes.
 */
import {
  NoiseCache,
  OftsrError,
  pixelsToTensor,
  resizeBicubic,
  tensorToPixels,
  upscaleTiles,
} from '@oftsr/shared';
import type { ModelManifest, TileExecutor } from '@oftsr/shared';
import { loadModel } from './model-store.ts';
import type { ErrorMessage, InitRequest, UpscaleRequest, WorkerRequest, WorkerResponse } from './protocol.ts';
import { downscaleLanczos3 } from './resample.ts';
import { configureRuntime, openTileSession } from './session.ts';
import type { TileSession } from './session.ts';

interface State {
  init: InitRequest;
  manifest: ModelManifest;
  bytes: Uint8Array;
  session?: TileSession;
}

let state: State | undefined;

function post(msg: WorkerResponse, transfer: Transferable[] = []): void {
  (self as unknown as Worker).postMessage(msg, transfer);
}

function fail(id: number, stage: ErrorMessage['stage'], err: unknown): void {
  const code = err instanceof OftsrError ? err.code : 'device';
  const message = err instanceof Error ? err.message : String(err);
  post({ type: 'error', id, stage, code, message });
}

async function init(msg: InitRequest): Promise<void> {
  const start = performance.now();
  configureRuntime(msg.wasmPaths);
  const model = await loadModel(msg.manifestUrl);
  state = { init: msg, manifest: model.manifest, bytes: model.bytes };
  // Open the recommended shape now, so a provider that cannot run the model fails at load.
  state.session = await openTileSession(model.bytes, model.manifest, 64, msg.provider, msg.graphCapture);
  post({
    type: 'ready',
    id: msg.id,
    manifest: model.manifest,
    provider: msg.provider,
    cached: model.cached,
    loadMs: performance.now() - start,
  });
}

async function sessionFor(tile: number): Promise<TileSession> {
  const s = state as State;
  if (s.session?.tile === tile) return s.session;
  await s.session?.release();
  s.session = undefined;
  s.session = await openTileSession(s.bytes, s.manifest, tile, s.init.provider, s.init.graphCapture);
  return s.session;
}

/** Noise windows recur across images of one size at one seed; 64 MiB holds five 256² tiles' worth. */
const noiseCache = new NoiseCache({ maxBytes: 64 * 2 ** 20 });

async function upscale(msg: UpscaleRequest): Promise<void> {
  if (!state) throw new OftsrError('internal', 'the worker has no model loaded');
  const start = performance.now();
  const { manifest } = state;
  const { width, height } = msg;
  const { rgb, alpha } = pixelsToTensor(msg.pixels, width, height, 4, 8);
  let session = await sessionFor(msg.tile);
  // A captured graph that fails on replay is dropped: the tile reruns on a plain session.
  const executor: TileExecutor = {
    run: async (tile, signal) => {
      try {
        return await session.run(tile, signal);
      } catch (err) {
        if (!session.graphCapture || err instanceof OftsrError) throw err;
        const s = state as State;
        s.init = { ...s.init, graphCapture: false };
        await session.release().catch(() => undefined);
        s.session = session = await openTileSession(s.bytes, s.manifest, msg.tile, s.init.provider, false);
        return session.run(tile, signal);
      }
    },
  };
  const inferStart = performance.now();
  let sr = await upscaleTiles(manifest, rgb, width, height, {
    t: msg.t,
    seed: msg.seed,
    tile: msg.tile,
    fixedTile: true,
    executor,
    noiseCache,
    onProgress: (done, total) => post({ type: 'progress', id: msg.id, done, total }),
  });
  const inferMs = performance.now() - inferStart;
  let W = width * manifest.scale;
  let H = height * manifest.scale;
  let a = msg.alpha && alpha ? resizeBicubic(alpha, width, height, W, H) : null;
  if (msg.sr !== manifest.scale) {
    const w2 = width * msg.sr;
    const h2 = height * msg.sr;
    sr = downscaleLanczos3(sr, 3, W, H, w2, h2);
    if (a) a = downscaleLanczos3(a, 1, W, H, w2, h2);
    W = w2;
    H = h2;
  }
  const px = tensorToPixels(sr, a, W, H, { channels: 4, bitDepth: 8 });
  const pixels = new Uint8ClampedArray(px.buffer as ArrayBuffer, px.byteOffset, px.length);
  post(
    {
      type: 'result',
      id: msg.id,
      pixels,
      width: W,
      height: H,
      inferMs,
      totalMs: performance.now() - start,
      graphCapture: session.graphCapture,
    },
    [pixels.buffer],
  );
}

self.onmessage = (event: MessageEvent<WorkerRequest>) => {
  const msg = event.data;
  if (msg.type === 'init') void init(msg).catch((err: unknown) => fail(msg.id, 'load', err));
  else if (msg.type === 'upscale') void upscale(msg).catch((err: unknown) => fail(msg.id, 'run', err));
  else if (msg.type === 'warmup') {
    if (!state) fail(msg.id, 'run', new OftsrError('internal', 'the worker has no model loaded'));
    else
      void sessionFor(msg.tile).then(
        () => post({ type: 'warm', id: msg.id, tile: msg.tile }),
        (err: unknown) => fail(msg.id, 'run', err),
      );
  } else if (msg.type === 'dispose') {
    void (state?.session?.release() ?? Promise.resolve())
      .catch(() => undefined)
      .then(() => {
        state = undefined;
        post({ type: 'disposed', id: msg.id });
      });
  }
};
