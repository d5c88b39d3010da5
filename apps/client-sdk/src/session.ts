/**
 * onnxruntime-web sessions for the student: one fixed tile shape per session (the model's free
 * dimensions pinned with freeDimensionOverrides), on WebGPU or wasm. On WebGPU the inputs and the
 * output live in GPU buffers reused from tile to tile, which lets graph capture replay the whole
 * model; when capture is refused the session is rebuilt without it.
 */
import * as ort from 'onnxruntime-web/webgpu';
import { OftsrError, readOnnxMetadata, validateModel } from '@oftsr/shared';
import type { ModelManifest, TileExecutor, TileInput } from '@oftsr/shared';
import type { DeviceProvider } from './protocol.ts';

/** Global onnxruntime-web settings; call once per worker before the first session. */
export function configureRuntime(wasmPaths: string): void {
  ort.env.wasm.wasmPaths = wasmPaths;
  // One wasm thread: the worker already keeps the main thread free, and threads need cross-origin
  // isolation that host pages may not have.
  ort.env.wasm.numThreads = 1;
  ort.env.logLevel = 'error';
}

/** A session for one tile shape. */
export interface TileSession extends TileExecutor {
  readonly tile: number;
  readonly provider: DeviceProvider;
  readonly graphCapture: boolean;
  release(): Promise<void>;
}

function overrides(tile: number, scale: number): Record<string, number> {
  return { N: 1, H: tile, W: tile, H4: scale * tile, W4: scale * tile };
}

function checkOutput(tile: TileInput, scale: number, sr: ort.Tensor | undefined): void {
  const want = [1, 3, tile.height * scale, tile.width * scale];
  if (!sr || sr.type !== 'float32' || sr.dims.join() !== want.join()) {
    throw new OftsrError(
      'model_contract',
      `model output sr has shape [${sr?.dims.join(', ')}], expected [${want.join(', ')}]`,
    );
  }
}

/** CPU-side tensors: works on every provider, copies each tile in and out. */
async function openPlain(
  bytes: Uint8Array,
  manifest: ModelManifest,
  tile: number,
  provider: DeviceProvider,
): Promise<TileSession> {
  const session = await ort.InferenceSession.create(bytes, {
    executionProviders: [provider],
    freeDimensionOverrides: overrides(tile, manifest.scale),
    graphOptimizationLevel: 'all',
  });
  validateModel(manifest, session, readOnnxMetadata(bytes));
  return {
    tile,
    provider,
    graphCapture: false,
    async run(input) {
      const s = manifest.scale;
      const out = await session.run({
        lr: new ort.Tensor('float32', input.lr, [1, 3, input.height, input.width]),
        noise: new ort.Tensor('float32', input.noise, [1, 3, input.height * s, input.width * s]),
        t: new ort.Tensor('float32', new Float32Array([input.t]), [1]),
      });
      const sr = out.sr;
      checkOutput(input, s, sr);
      const data = (await (sr as ort.Tensor).getData()) as Float32Array;
      (sr as ort.Tensor).dispose();
      return data;
    },
    release: () => session.release(),
  };
}

/** GPU-resident inputs/output reused for every tile, with graph capture. */
async function openCaptured(bytes: Uint8Array, manifest: ModelManifest, tile: number): Promise<TileSession> {
  const s = manifest.scale;
  const session = await ort.InferenceSession.create(bytes, {
    executionProviders: ['webgpu'],
    freeDimensionOverrides: overrides(tile, s),
    graphOptimizationLevel: 'all',
    enableGraphCapture: true,
    preferredOutputLocation: 'gpu-buffer',
  });
  validateModel(manifest, session, readOnnxMetadata(bytes));
  const device = (await ort.env.webgpu.device) as GPUDevice;
  const usage = GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST;
  const lrBytes = 3 * tile * tile * 4;
  const hrBytes = lrBytes * s * s;
  const buffers = {
    lr: device.createBuffer({ size: lrBytes, usage }),
    noise: device.createBuffer({ size: hrBytes, usage }),
    t: device.createBuffer({ size: 16, usage }),
  };
  const feeds = {
    lr: ort.Tensor.fromGpuBuffer(buffers.lr, { dataType: 'float32', dims: [1, 3, tile, tile] }),
    noise: ort.Tensor.fromGpuBuffer(buffers.noise, { dataType: 'float32', dims: [1, 3, s * tile, s * tile] }),
    t: ort.Tensor.fromGpuBuffer(buffers.t, { dataType: 'float32', dims: [1] }),
  };
  const release = async (): Promise<void> => {
    await session.release();
    for (const b of Object.values(buffers)) b.destroy();
  };
  const executor: TileSession = {
    tile,
    provider: 'webgpu',
    graphCapture: true,
    async run(input) {
      device.queue.writeBuffer(buffers.lr, 0, input.lr as Float32Array<ArrayBuffer>);
      device.queue.writeBuffer(buffers.noise, 0, input.noise as Float32Array<ArrayBuffer>);
      device.queue.writeBuffer(buffers.t, 0, new Float32Array([input.t, 0, 0, 0]));
      const out = await session.run(feeds);
      const sr = out.sr;
      checkOutput(input, s, sr);
      // getData() goes through onnxruntime's own download, which flushes its pending GPU work.
      return (await (sr as ort.Tensor).getData()) as Float32Array;
    },
    release,
  };
  // Capture happens on the first run; a refusal shows up here, not later mid-image.
  try {
    const probe = new Float32Array(3 * tile * tile);
    await executor.run({ lr: probe, noise: new Float32Array(hrBytes / 4), t: 0, width: tile, height: tile });
  } catch (err) {
    await release().catch(() => undefined);
    throw err;
  }
  return executor;
}

/**
 * Opens a session for `tile × tile` LR tiles on `provider`. On WebGPU graph capture is tried first
 * (when `graphCapture`) and dropped if refused.
 *
 * @throws OftsrError `model_contract` when the model breaks the I/O contract; onnxruntime's error
 *   when the provider cannot run it at all.
 */
export async function openTileSession(
  bytes: Uint8Array,
  manifest: ModelManifest,
  tile: number,
  provider: DeviceProvider,
  graphCapture: boolean,
): Promise<TileSession> {
  if (provider === 'webgpu' && graphCapture) {
    try {
      return await openCaptured(bytes, manifest, tile);
    } catch (err) {
      if (err instanceof OftsrError) throw err;
      // Refused (an op without capture support, or I/O binding unavailable): plain session below.
    }
  }
  return openPlain(bytes, manifest, tile, provider);
}
