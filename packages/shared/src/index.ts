// The public API of @oftsr/shared, listed by name (no `export *`) so every export is a decision.

export { ErrorBody, ErrorCode, OftsrError, errorStatus, toErrorBody } from './errors.ts';
export type { OftsrErrorOptions } from './errors.ts';

export {
  DEFAULT_T,
  FIT_MODES,
  MAX_DIMENSION,
  MAX_DPR,
  MAX_SCALE,
  MAX_SEED,
  MAX_WAIT_MS,
  METADATA_PARAM,
  ONERROR_MODES,
  ONERROR_PARAM,
  OUTPUT_FORMATS,
  PARAM_HEADERS,
  PARAM_NAMES,
  RequestParams,
  T_STEP,
  WAIT_PARAM,
  canonicalizeParams,
  parseParamsFromHeaders,
  parseParamsFromJson,
  parseMetadata,
  parseOnError,
  parseWait,
  parseParamsFromQuery,
  resolveOutputSize,
} from './schemas.ts';
export type {
  FitMode,
  HeadersLike,
  OnErrorMode,
  OutputFormat,
  OutputSize,
  ParamName,
  QueryLike,
  RequestParamsInput,
} from './schemas.ts';

export {
  BASELINE_FORMATS,
  ENCODED_FORMATS,
  IMAGE_MIME,
  SOURCE_FORMATS,
  autoFormat,
  isEncodedFormat,
} from './formats.ts';
export type { EncodedFormat, SourceFormat } from './formats.ts';

export { CACHE_KEY_VERSION, cacheKey } from './cache-key.ts';

export { canonicalSourcePath } from './source-path.ts';

export { DEFAULT_MAX_INPUT_PIXELS, DEFAULT_MAX_OUTPUT_PIXELS, priceUpscale } from './work.ts';
export type { PriceOptions, UpscaleWork } from './work.ts';
export type { CacheKeyInput, SourceIdentity } from './cache-key.ts';

export { fillNoise, lowbias32, NoiseCache, noiseAt, noiseField, noiseHash } from './noise.ts';
export type { NoiseCacheOptions } from './noise.ts';

export { TileBlender, cropChw, padReplicate, padSize, planTiles } from './tiling.ts';
export type { BlendOptions, PlanOptions, Rect, Tile, TilePlan } from './tiling.ts';

export {
  chooseTile,
  contextPad,
  DEFAULT_TILE_SIZES,
  frameSize,
  NoiseBands,
  planUpscale,
  upscaleTiles,
} from './pipeline.ts';
export type { SignalLike, TileExecutor, TileInput, TiledUpscaleOptions, TilingOptions } from './pipeline.ts';

export { pixelsToTensor, resizeBicubic, tensorToPixels } from './tensor.ts';
export type { BitDepth, ImageTensor, PixelArray, PixelChannels, PixelFormat } from './tensor.ts';

export {
  CONTRACT_VERSION,
  MODEL_INPUTS,
  MODEL_METADATA_KEYS,
  MODEL_OUTPUTS,
  ModelManifest,
  elementCount,
  expectOutputShape,
  modelFeeds,
  parseManifest,
  tensorShapes,
  validateModel,
} from './contract.ts';
export type { ModelInput, SessionLike, TensorShapes } from './contract.ts';

export { readOnnxMetadata } from './onnx-metadata.ts';

export { HEADERS, OBJECT_METADATA, RUNNER_ROUTES, decodeMetadataValue, encodeMetadataValue } from './wire.ts';
export type { HeaderName, ObjectMetadataKey } from './wire.ts';
