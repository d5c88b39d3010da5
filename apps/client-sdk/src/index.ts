/**
 * @oftsr/client-sdk: the oftsr student in the browser. `createUpscaler` runs it on the user's GPU
 * (onnxruntime-web's WebGPU provider, in a dedicated worker) when it can, and in the cloud (the
 * gpu-runner or the edge) when it cannot, or when the device fails mid-run, without the caller
 * noticing beyond `ranOn`.
 */
import { DEFAULT_TILE_SIZES } from '@oftsr/shared';

export { choosePath, requiredBufferBytes } from './capabilities.ts';
export type { Capabilities, ExecutionPath, GpuInfo, Preference } from './capabilities.ts';
export type { CloudOptions } from './cloud.ts';
export type { ImageInput, OutputKind, OutputTypes } from './image.ts';
export { createUpscaler } from './upscaler.ts';
export type {
  Diagnostics,
  Progress,
  ProgressStage,
  UpscaleOptions,
  UpscaleResult,
  Upscaler,
  UpscalerOptions,
  WarmupSize,
} from './upscaler.ts';

/**
 * The SDK's default tile sizes (WebGPU-sized fixed shapes); any list gives the runner's pixels.
 */
export { DEFAULT_TILE_SIZES };
