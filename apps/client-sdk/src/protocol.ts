/**
 * The postMessage protocol between the SDK (main thread) and its inference worker. Every request
 * carries an `id`; the worker answers with messages of the same id. Large buffers are transferred.
 */
import type { ModelManifest } from '@oftsr/shared';

/** The onnxruntime-web execution provider a worker runs on. */
export type DeviceProvider = 'webgpu' | 'wasm';

/** Loads the model (fetch → sha256 check → Cache Storage) and opens a session. */
export interface InitRequest {
  type: 'init';
  id: number;
  /** Absolute URL of the model manifest (`<name>.json`); the ONNX file is resolved beside it. */
  manifestUrl: string;
  /** Base URL of onnxruntime-web's `.wasm`/`.mjs` files (served locally, never a CDN). */
  wasmPaths: string;
  provider: DeviceProvider;
  /** Try WebGPU graph capture (dropped when refused). */
  graphCapture: boolean;
}

/** Upscales one decoded image; the worker pads, tiles, noises and blends with @oftsr/shared. */
export interface UpscaleRequest {
  type: 'upscale';
  id: number;
  /** RGBA, 8 bits per sample, non-premultiplied. */
  pixels: Uint8ClampedArray;
  width: number;
  height: number;
  /** Whether the alpha plane carries information (otherwise the output is opaque). */
  alpha: boolean;
  sr: 2 | 4;
  t: number;
  seed: number;
  /** LR tile size (fixed shape; smaller images are padded up to it). */
  tile: number;
}

/** Releases the sessions; the worker can then be terminated. */
export interface DisposeRequest {
  type: 'dispose';
  id: number;
}

/** Opens (and so compiles and runs once) the session for one tile size, ahead of an upscale. */
export interface WarmupRequest {
  type: 'warmup';
  id: number;
  tile: number;
}

export type WorkerRequest = InitRequest | UpscaleRequest | WarmupRequest | DisposeRequest;

/** Answer to {@link InitRequest}. */
export interface ReadyMessage {
  type: 'ready';
  id: number;
  manifest: ModelManifest;
  provider: DeviceProvider;
  /** Whether the model bytes came from Cache Storage. */
  cached: boolean;
  loadMs: number;
}

/** After each tile. */
export interface ProgressMessage {
  type: 'progress';
  id: number;
  done: number;
  total: number;
}

/** The finished image: RGBA 8-bit, `width × height` (already ×sr). */
export interface ResultMessage {
  type: 'result';
  id: number;
  pixels: Uint8ClampedArray;
  width: number;
  height: number;
  /** Milliseconds in the model pipeline (tiles, blend) and overall in the worker. */
  inferMs: number;
  totalMs: number;
  /** Whether graph capture is in use for the tile shape that ran. */
  graphCapture: boolean;
}

/** Why a step failed; `device` failures (lost, out of memory, no adapter) warrant the cloud. */
export interface ErrorMessage {
  type: 'error';
  id: number;
  stage: 'load' | 'run';
  /** An `ErrorCode` from @oftsr/shared, or `device` for GPU/runtime failures. */
  code: string;
  message: string;
}

export interface DisposedMessage {
  type: 'disposed';
  id: number;
}

/** Answer to {@link WarmupRequest}. */
export interface WarmMessage {
  type: 'warm';
  id: number;
  tile: number;
}

export type WorkerResponse =
  ReadyMessage | ProgressMessage | ResultMessage | WarmMessage | ErrorMessage | DisposedMessage;
