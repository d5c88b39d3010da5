import { describe, expect, it } from 'vitest';
import * as shared from './index.ts';

describe('@oftsr/shared public API', () => {
  it('exports exactly the documented runtime names', () => {
    expect(Object.keys(shared).sort()).toEqual(
      [
        'CACHE_KEY_VERSION',
        'CONTRACT_VERSION',
        'DEFAULT_T',
        'ErrorBody',
        'ErrorCode',
        'MAX_SEED',
        'MODEL_INPUTS',
        'MODEL_METADATA_KEYS',
        'MODEL_OUTPUTS',
        'ModelManifest',
        'OUTPUT_FORMATS',
        'OftsrError',
        'PARAM_HEADERS',
        'PARAM_NAMES',
        'RequestParams',
        'TileBlender',
        'T_STEP',
        'cacheKey',
        'canonicalizeParams',
        'chooseTile',
        'cropChw',
        'errorStatus',
        'fillNoise',
        'lowbias32',
        'noiseAt',
        'noiseField',
        'noiseHash',
        'padReplicate',
        'padSize',
        'parseManifest',
        'parseParamsFromHeaders',
        'parseParamsFromJson',
        'parseParamsFromQuery',
        'pixelsToTensor',
        'planTiles',
        'planUpscale',
        'readOnnxMetadata',
        'resizeBicubic',
        'tensorShapes',
        'tensorToPixels',
        'toErrorBody',
        'upscaleTiles',
        'validateModel',
      ].sort(),
    );
  });
});
