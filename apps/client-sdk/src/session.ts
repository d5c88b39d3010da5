/**
 * onnxruntime-web sessions for the student: one fixed tile shape per session (the model's free
 * dimensions pinned with freeDimensionOverrides), on WebGPU or wasm. On WebGPU the inputs and the
 * output live in GPU buffers reused from tile to tile, which lets graph capture replay the whole
 * model; when capture is refused the session is rebuilt without it.
 */
import * as ort from 'onnxruntime-web/webgpu';
import {
  OftsrError,
  elementCount,
  expectOutputShape,
  modelFeeds,
  readOnnxMetadata,
  tensorShapes,
  validateModel,
} from '@oftsr/shared';
import type { ModelManifest, TensorShapes, TileExecutor } from '@oftsr/shared';
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

/** The model's free dimensions (N, H, W and the ×4 H4, W4), pinned to one call's contract shapes. */
function overrides(shapes: TensorShapes): Record<string, number> {
  const [n, , h, w] = shapes.lr;
  const [, , h4, w4] = shapes.noise;
  return { N: n, H: h, W: w, H4: h4, W4: w4 };
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
    freeDimensionOverrides: overrides(tensorShapes(manifest, 1, tile, tile)),
    graphOptimizationLevel: 'all',
  });
  validateModel(manifest, session, readOnnxMetadata(bytes));
  return {
    tile,
    provider,
    graphCapture: false,
    async run(input) {
      const shapes = tensorShapes(manifest, 1, input.height, input.width);
      const inputs = { lr: input.lr, noise: input.noise, t: new Float32Array([input.t]) };
      const out = await session.run(
        modelFeeds(shapes, (name, dims) => new ort.Tensor('float32', inputs[name], dims)),
      );
      const sr = out.sr;
      expectOutputShape(shapes, sr);
      const data = (await (sr as ort.Tensor).getData()) as Float32Array;
      (sr as ort.Tensor).dispose();
      return data;
    },
    release: () => session.release(),
  };
}

/** GPU-resident inputs/output reused for every tile, with graph capture. */
async function openCaptured(bytes: Uint8Array, manifest: ModelManifest, tile: number): Promise<TileSession> {
  const shapes = tensorShapes(manifest, 1, tile, tile);
  const session = await ort.InferenceSession.create(bytes, {
    executionProviders: ['webgpu'],
    freeDimensionOverrides: overrides(shapes),
    graphOptimizationLevel: 'all',
    enableGraphCapture: true,
    preferredOutputLocation: 'gpu-buffer',
  });
  validateModel(manifest, session, readOnnxMetadata(bytes));
  const device = (await ort.env.webgpu.device) as GPUDevice;
  const usage = GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST;
  // Float32 buffers; WebGPU wants at least 16 bytes (t is one float, padded).
  const buffers = modelFeeds(shapes, (_, dims) =>
    device.createBuffer({ size: Math.max(16, 4 * elementCount(dims)), usage }),
  );
  const feeds = modelFeeds(shapes, (name, dims) =>
    ort.Tensor.fromGpuBuffer(buffers[name], { dataType: 'float32', dims }),
  );
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
      expectOutputShape(shapes, sr);
      // getData() goes through onnxruntime's own download, which flushes its pending GPU work.
      return (await (sr as ort.Tensor).getData()) as Float32Array;
    },
    release,
  };
  // Capture happens on the first run; a refusal shows up here, not later mid-image.
  try {
    const lr = new Float32Array(elementCount(shapes.lr));
    const noise = new Float32Array(elementCount(shapes.noise));
    await executor.run({ lr, noise, t: 0, width: tile, height: tile });
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
