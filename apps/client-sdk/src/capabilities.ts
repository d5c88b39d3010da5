/**
 * What the device offers (WebGPU, its adapter, the limits that matter) and the rule that picks where
 * an upscale runs. `choosePath` is pure, so the fallback rules are unit-tested without a browser.
 */

/** Where work runs: the student on WebGPU, on onnxruntime's wasm (CPU) provider, or the cloud. */
export type ExecutionPath = 'webgpu' | 'wasm' | 'cloud';

/** The caller's preference; see {@link choosePath}. */
export type Preference = 'device' | 'cloud' | 'auto';

/** The WebGPU adapter as seen by the SDK. */
export interface GpuInfo {
  vendor: string;
  architecture: string;
  device: string;
  description: string;
  /** Bytes. */
  maxBufferSize: number;
  maxStorageBufferBindingSize: number;
  shaderF16: boolean;
  /** Chromium exposes SwiftShader (a CPU emulation) as a fallback adapter. */
  fallbackAdapter: boolean;
}

/** Answer of `capabilities()`. */
export interface Capabilities {
  webgpu: boolean;
  adapter: GpuInfo | null;
  /** Why there is no usable adapter, when there is none. */
  webgpuError?: string;
  /** Bytes the largest tile tensor needs (see {@link requiredBufferBytes}). */
  requiredBufferBytes: number;
  cloud: boolean;
  path: ExecutionPath;
  /** A sentence: why this path. */
  reason: string;
}

/**
 * Bytes one tensor of a `tile × tile` LR tile may need on the GPU: the ×4 RGB output (or noise) is
 * `3·(4·tile)²` floats, and the widest internal feature maps are several times that, so the rule
 * asks for 16× it (≈ 200 MB at tile 256, 50 MB at 128). A heuristic: a device that passes it but
 * still runs out of memory falls back mid-run.
 */
export function requiredBufferBytes(tile: number, scale = 4): number {
  return 16 * 3 * (scale * tile) ** 2 * 4;
}

/**
 * Probes WebGPU: adapter, its info and limits. Never throws.
 */
export async function probeGpu(): Promise<{ adapter: GpuInfo | null; error?: string }> {
  const gpu = (globalThis.navigator as Navigator | undefined)?.gpu;
  if (!gpu)
    return { adapter: null, error: 'navigator.gpu is missing (no WebGPU in this browser or context)' };
  try {
    const adapter = await gpu.requestAdapter();
    if (!adapter) return { adapter: null, error: 'requestAdapter() returned null' };
    const info = adapter.info;
    return {
      adapter: {
        vendor: info?.vendor ?? '',
        architecture: info?.architecture ?? '',
        device: info?.device ?? '',
        description: info?.description ?? '',
        maxBufferSize: adapter.limits.maxBufferSize,
        maxStorageBufferBindingSize: adapter.limits.maxStorageBufferBindingSize,
        shaderF16: adapter.features.has('shader-f16'),
        fallbackAdapter: Boolean((info as { isFallbackAdapter?: boolean } | undefined)?.isFallbackAdapter),
      },
    };
  } catch (err) {
    return {
      adapter: null,
      error: `requestAdapter() failed: ${err instanceof Error ? err.message : String(err)}`,
    };
  }
}

const SOFTWARE_RENDERERS = /swiftshader|llvmpipe|lavapipe|softpipe|microsoft basic render|\bwarp\b/i;

/**
 * Whether an adapter is a CPU emulation of a GPU (Chromium's SwiftShader, Mesa's llvmpipe/lavapipe,
 * Windows' WARP): `isFallbackAdapter`, or a software renderer's name in its info. On one the student
 * runs tens of times slower than on a GPU, and slower than onnxruntime's own wasm provider.
 */
export function isSoftwareAdapter(adapter: GpuInfo): boolean {
  if (adapter.fallbackAdapter) return true;
  return SOFTWARE_RENDERERS.test(
    `${adapter.vendor} ${adapter.architecture} ${adapter.device} ${adapter.description}`,
  );
}

/** Inputs of {@link choosePath}. */
export interface PathInputs {
  prefer: Preference;
  adapter: GpuInfo | null;
  webgpuError?: string;
  cloud: boolean;
  /** Largest tile the SDK would run. */
  tile: number;
}

/**
 * The fallback rules:
 * - `cloud`: the cloud (createUpscaler refuses `cloud` without a cloud endpoint).
 * - `auto` (default): WebGPU when a hardware adapter exists and its limits hold a tile; else the
 *   cloud when configured; else the wasm provider. A software adapter ({@link isSoftwareAdapter}) is
 *   not a GPU: `auto` skips it.
 * - `device`: WebGPU when usable (a software adapter included: the caller asked for this device),
 *   else the wasm provider — the cloud only rescues a failed run.
 */
export function choosePath(inputs: PathInputs): { path: ExecutionPath; reason: string } {
  const { prefer, adapter, cloud, tile } = inputs;
  if (prefer === 'cloud') return { path: 'cloud', reason: 'prefer: cloud' };
  const need = requiredBufferBytes(tile);
  let why: string;
  if (!adapter) why = `no WebGPU: ${inputs.webgpuError ?? 'no adapter'}`;
  else if (adapter.maxStorageBufferBindingSize < need || adapter.maxBufferSize < need)
    why =
      `WebGPU limits too small for ${tile}px tiles (maxStorageBufferBindingSize ` +
      `${adapter.maxStorageBufferBindingSize}, maxBufferSize ${adapter.maxBufferSize}, need ${need})`;
  else if (prefer === 'auto' && isSoftwareAdapter(adapter))
    why =
      `the WebGPU adapter is a software renderer (${adapter.vendor || 'unknown'} ` +
      `${adapter.architecture || adapter.description || 'fallback adapter'}), not a GPU`.replace(
        /\s+\)/,
        ')',
      );
  else
    return {
      path: 'webgpu',
      reason: `WebGPU adapter usable (${adapter.vendor || 'unknown vendor'} ${adapter.architecture})`.trim(),
    };
  if (prefer === 'auto' && cloud) return { path: 'cloud', reason: `${why}; using the cloud` };
  return { path: 'wasm', reason: `${why}; using the wasm provider` };
}
