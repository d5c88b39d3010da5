import { describe, expect, it } from 'vitest';
import sample from '../testdata/sample-manifest.json' with { type: 'json' };
import { OftsrError } from './errors.ts';
import {
  MODEL_INPUTS,
  elementCount,
  expectOutputShape,
  modelFeeds,
  parseManifest,
  tensorShapes,
  validateModel,
} from './contract.ts';

const manifest = parseManifest(sample);
const session = { inputNames: ['lr', 'noise', 't'], outputNames: ['sr'] };

function contractError(fn: () => unknown): OftsrError {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(OftsrError);
    expect((err as OftsrError).code).toBe('model_contract');
    return err as OftsrError;
  }
  throw new Error('expected a model_contract error');
}

describe('parseManifest', () => {
  it('accepts the sample manifest', () => {
    expect(manifest.scale).toBe(4);
    expect(manifest.inputs).toEqual(['lr', 'noise', 't']);
  });

  it('names every bad key', () => {
    const err = contractError(() => parseManifest({ ...sample, scale: 2, tile: 100, sha256: 'x' }));
    expect(err.message).toContain('scale');
    expect(err.message).toContain('sha256');
  });

  it('checks tile against alignment and drops unknown keys', () => {
    expect(contractError(() => parseManifest({ ...sample, tile: 100 })).message).toContain('tile');
    expect(parseManifest({ ...sample, extra: 1 })).not.toHaveProperty('extra');
    contractError(() => parseManifest(null));
  });
});

describe('contract version', () => {
  it('refuses a contract-1 manifest (tile-dependent border pixels) with a clear message', () => {
    const err = contractError(() => parseManifest({ ...sample, contract: 1 }));
    expect(err.message).toContain('contract: this runtime reads contract 2');
  });
});

describe('validateModel', () => {
  it('accepts a matching session and metadata', () => {
    const metadata = {
      contract: '2',
      version: '0.0.0-sample',
      scale: '4',
      sigma_p: '0.5',
      alignment: '8',
      margin: '16',
      tile: '128',
      trained: 'false',
    };
    expect(() => validateModel(manifest, session, metadata)).not.toThrow();
  });

  it('names every mismatch', () => {
    const err = contractError(() =>
      validateModel(manifest, { inputNames: ['lr', 'sigma'], outputNames: ['sr', 'extra'] }, { scale: '2' }),
    );
    expect(err.message).toContain('missing input "noise"');
    expect(err.message).toContain('missing input "t"');
    expect(err.message).toContain('unexpected input "sigma"');
    expect(err.message).toContain('unexpected output "extra"');
    expect(err.message).toContain('metadata "scale" is "2"');
    expect(err.message).toContain('metadata "margin" is missing');
  });
});

describe('tensorShapes', () => {
  it('derives the shapes of one call', () => {
    expect(tensorShapes(manifest, 2, 64, 128)).toEqual({
      lr: [2, 3, 64, 128],
      noise: [2, 3, 256, 512],
      t: [2],
      sr: [2, 3, 256, 512],
    });
  });

  it('rejects unaligned tiles', () => {
    expect(contractError(() => tensorShapes(manifest, 1, 60, 64)).message).toContain('alignment 8');
    contractError(() => tensorShapes(manifest, 0, 64, 64));
  });
});

describe('modelFeeds', () => {
  it('names every model input once, each with its contract dims', () => {
    const shapes = tensorShapes(manifest, 2, 64, 128);
    const seen: string[] = [];
    const feeds = modelFeeds(shapes, (name, dims) => {
      seen.push(name);
      return { name, dims: [...dims], size: elementCount(dims) };
    });
    expect(seen).toEqual([...MODEL_INPUTS]);
    expect(Object.keys(feeds)).toEqual([...MODEL_INPUTS]);
    expect(feeds.lr).toEqual({ name: 'lr', dims: [2, 3, 64, 128], size: 2 * 3 * 64 * 128 });
    expect(feeds.noise).toEqual({ name: 'noise', dims: [2, 3, 256, 512], size: 2 * 3 * 256 * 512 });
    expect(feeds.t).toEqual({ name: 't', dims: [2], size: 2 });
  });
});

describe('expectOutputShape', () => {
  const shapes = tensorShapes(manifest, 1, 8, 16);

  it('accepts a float32 sr of exactly the contract shape', () => {
    expect(() => expectOutputShape(shapes, { type: 'float32', dims: [1, 3, 32, 64] })).not.toThrow();
  });

  it('refuses a wrong shape, a wrong type and a missing output, naming what it got', () => {
    expect(
      contractError(() => expectOutputShape(shapes, { type: 'float32', dims: [1, 3, 64, 32] })).message,
    ).toBe('model output sr is float32 [1, 3, 64, 32], expected float32 [1, 3, 32, 64]');
    expect(
      contractError(() => expectOutputShape(shapes, { type: 'float16', dims: [1, 3, 32, 64] })).message,
    ).toContain('is float16');
    expect(contractError(() => expectOutputShape(shapes, undefined)).message).toContain('is missing');
  });
});
