import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { OftsrError } from '@oftsr/shared';
import { DEFAULT_MODEL_DIR, defaultModelPath, loadModel, modelPaths } from './onnx-session.ts';
import { tempDir } from '../testing/fixtures.ts';
import { writeTinyModel } from '../testing/tiny-model.ts';

let dir: string;
let cleanup: () => void;
beforeEach(() => {
  ({ dir, cleanup } = tempDir());
});
afterEach(() => cleanup());

/** Whether onnxruntime-node can open a session on CUDA here (it cannot on a machine without CUDA libraries). */
async function cudaLoads(onnxPath: string): Promise<boolean> {
  return loadModel({ modelPath: onnxPath, providers: ['cuda'] }).then(
    async (m) => (await m.session.release(), true),
    () => false,
  );
}

async function contractError(promise: Promise<unknown>): Promise<OftsrError> {
  const err = await promise.then(
    () => null,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(OftsrError);
  expect((err as OftsrError).code).toBe('model_contract');
  return err as OftsrError;
}

describe('model paths', () => {
  it('resolve the default model from the package, not the cwd', () => {
    expect(DEFAULT_MODEL_DIR).toMatch(/[/\\]models[/\\]$/);
    expect(defaultModelPath()).toBe(join(DEFAULT_MODEL_DIR, 'oftsr-student-x4.onnx'));
    expect(DEFAULT_MODEL_DIR).not.toContain('apps');
  });

  it('accept the .onnx or the .json', () => {
    expect(modelPaths('/m/a.onnx')).toEqual({ onnx: '/m/a.onnx', manifest: '/m/a.json' });
    expect(modelPaths('/m/a.json')).toEqual({ onnx: '/m/a.onnx', manifest: '/m/a.json' });
  });
});

describe('loadModel', () => {
  it('opens a valid model on cpu and reports the provider', async () => {
    const { onnxPath } = writeTinyModel(dir);
    const model = await loadModel({ modelPath: onnxPath, threads: 1 });
    expect(model.provider).toBe('cpu');
    expect(model.manifest.name).toBe('tiny');
    expect(model.manifest.trained).toBe(false);
    expect(model.session.inputNames).toEqual(['lr', 'noise', 't']);
    await model.session.release();
  });

  it('rejects a model whose sha256 differs from the manifest', async () => {
    const { onnxPath } = writeTinyModel(dir, { sha256: 'a'.repeat(64) });
    const err = await contractError(loadModel({ modelPath: onnxPath }));
    expect(err.message).toMatch(/sha256/);
  });

  it('rejects a model whose size differs from the manifest', async () => {
    const { onnxPath } = writeTinyModel(dir, { bytes: 1 });
    expect((await contractError(loadModel({ modelPath: onnxPath }))).message).toMatch(/bytes/);
  });

  it('rejects a missing manifest or model file with the path', async () => {
    const err = await contractError(loadModel({ modelPath: join(dir, 'nope.onnx') }));
    expect(err.message).toContain('nope.json');
    const { onnxPath } = writeTinyModel(dir, { file: 'other.onnx' });
    expect((await contractError(loadModel({ modelPath: onnxPath }))).message).toMatch(
      /other\.onnx: not found/,
    );
  });

  it('rejects an invalid manifest', async () => {
    const { manifestPath } = writeTinyModel(dir);
    writeFileSync(manifestPath, '{"contract": 1}');
    expect((await contractError(loadModel({ modelPath: manifestPath }))).message).toMatch(
      /invalid model manifest/,
    );
    writeFileSync(manifestPath, 'not json');
    expect((await contractError(loadModel({ modelPath: manifestPath }))).message).toMatch(/not JSON/);
  });

  it('rejects a model whose tensor names break the contract', async () => {
    const { onnxPath } = writeTinyModel(dir, {}, { inputNames: ['x', 'noise', 't'] });
    expect((await contractError(loadModel({ modelPath: onnxPath }))).message).toMatch(/missing input "lr"/);
  });

  it('rejects a model whose ONNX metadata disagrees with its manifest', async () => {
    const metadata = { contract: '2', version: '0.0.0-test', scale: '4', sigma_p: '0.5', alignment: '8' };
    const { onnxPath } = writeTinyModel(
      dir,
      {},
      { metadata: { ...metadata, margin: '2', tile: '32', trained: 'false' } },
    );
    expect((await contractError(loadModel({ modelPath: onnxPath }))).message).toMatch(
      /metadata "margin" is "2", manifest says "8"/,
    );
  });

  it('never falls back silently when the first provider cannot load', async () => {
    const { onnxPath } = writeTinyModel(dir);
    // CUDA libraries are not installed on CPU machines, so onnxruntime refuses the provider.
    const err = await contractError(loadModel({ modelPath: onnxPath, providers: ['cuda', 'cpu'] }));
    expect(err.message).toMatch(/cuda/);
    expect(err.message).toMatch(/fallback .* disabled/);
  });

  it('falls back when allowed, and reports the provider actually used', async () => {
    const { onnxPath } = writeTinyModel(dir);
    const model = await loadModel({ modelPath: onnxPath, providers: ['cuda', 'cpu'], allowFallback: true });
    // The first provider that loads on its own must be the one chosen and reported.
    expect(model.provider).toBe((await cudaLoads(onnxPath)) ? 'cuda' : 'cpu');
    await model.session.release();
  });
});
