import { describe, expect, it } from 'vitest';
import { choosePath, isSoftwareAdapter, requiredBufferBytes } from './capabilities.ts';
import type { GpuInfo } from './capabilities.ts';

const gpu = (bytes: number): GpuInfo => ({
  vendor: 'google',
  architecture: 'swiftshader',
  device: '',
  description: '',
  maxBufferSize: bytes,
  maxStorageBufferBindingSize: bytes,
  shaderF16: false,
  fallbackAdapter: true,
});
const hardware = (bytes: number): GpuInfo => ({
  ...gpu(bytes),
  vendor: 'nvidia',
  architecture: 'ada',
  fallbackAdapter: false,
});

describe('choosePath (the fallback rules)', () => {
  const big = hardware(2 ** 30);
  it('auto: WebGPU when usable, else the cloud, else wasm', () => {
    expect(choosePath({ prefer: 'auto', adapter: big, cloud: true, tile: 256 }).path).toBe('webgpu');
    expect(choosePath({ prefer: 'auto', adapter: null, cloud: true, tile: 256 }).path).toBe('cloud');
    expect(choosePath({ prefer: 'auto', adapter: null, cloud: false, tile: 256 }).path).toBe('wasm');
  });
  it('limits too small count as no WebGPU, and say why', () => {
    const small = hardware(requiredBufferBytes(256) - 1);
    const r = choosePath({ prefer: 'auto', adapter: small, cloud: true, tile: 256 });
    expect(r.path).toBe('cloud');
    expect(r.reason).toMatch(/limits too small/);
    expect(choosePath({ prefer: 'auto', adapter: small, cloud: true, tile: 128 }).path).toBe('webgpu');
  });
  it('device never picks the cloud up front; cloud always does', () => {
    expect(choosePath({ prefer: 'device', adapter: null, cloud: true, tile: 256 }).path).toBe('wasm');
    expect(choosePath({ prefer: 'cloud', adapter: big, cloud: true, tile: 256 }).path).toBe('cloud');
  });
  it('a software adapter (SwiftShader) is not a GPU: auto takes the cloud, else wasm, and says why', () => {
    const swift = gpu(2 ** 30);
    expect(isSoftwareAdapter(swift)).toBe(true);
    expect(isSoftwareAdapter({ ...swift, fallbackAdapter: false })).toBe(true); // named swiftshader
    expect(isSoftwareAdapter(big)).toBe(false);
    const r = choosePath({ prefer: 'auto', adapter: swift, cloud: true, tile: 256 });
    expect(r.path).toBe('cloud');
    expect(r.reason).toMatch(/software renderer.*not a GPU; using the cloud/);
    expect(choosePath({ prefer: 'auto', adapter: swift, cloud: false, tile: 256 }).path).toBe('wasm');
    expect(choosePath({ prefer: 'device', adapter: swift, cloud: true, tile: 256 }).path).toBe('webgpu');
  });
});
