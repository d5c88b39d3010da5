import { describe, expect, it } from 'vitest';
import { loadConfig } from './config.ts';
import { DEFAULT_MAX_INPUT_PIXELS } from './io/image-io.ts';

const AUTH = { OFTSR_AUTH_TOKENS: 'a-long-enough-token-1' };

describe('loadConfig', () => {
  it('applies defaults', () => {
    const c = loadConfig(AUTH);
    expect(c).toMatchObject({
      port: 8080,
      providers: ['cpu'],
      tileSizes: [640],
      fixedTiles: false,
      maxBatch: 4,
      maxQueue: 16,
    });
    expect(c.maxInputPixels).toBe(4_000_000);
    // One input limit: the CLI's default (image-io) is the service's (it was 4.2 MP against 4.0).
    expect(DEFAULT_MAX_INPUT_PIXELS).toBe(c.maxInputPixels);
    expect(c.maxOutputPixels).toBe(64_000_000);
    expect(c.maxWorkBytes).toBe(4096 * 1024 * 1024);
    expect(c.bodyTimeoutMs).toBe(10_000);
    expect(c.s3.partSizeBytes).toBe(8 * 1024 * 1024);
  });

  it('tiles by execution provider unless told otherwise', () => {
    expect(loadConfig({ ...AUTH, OFTSR_PROVIDERS: 'cuda,cpu' })).toMatchObject({
      tileSizes: [128, 256, 320],
      fixedTiles: true,
    });
    expect(loadConfig({ ...AUTH, OFTSR_TILE_SIZES: '64,128' })).toMatchObject({
      tileSizes: [64, 128],
      fixedTiles: true,
    });
    expect(loadConfig({ ...AUTH, OFTSR_TILE_SIZES: '512', OFTSR_FIXED_TILES: '0' }).fixedTiles).toBe(false);
  });

  it('parses lists, booleans and numbers; empty strings count as unset', () => {
    const c = loadConfig({
      ...AUTH,
      OFTSR_PROVIDERS: 'cuda, webgpu,cpu',
      OFTSR_TILE_SIZES: '256,64,64,128',
      OFTSR_S3_FORCE_PATH_STYLE: 'true',
      OFTSR_MAX_DELAY_MS: '',
    });
    expect(c.providers).toEqual(['cuda', 'webgpu', 'cpu']);
    expect(c.tileSizes).toEqual([64, 128, 256]);
    expect(c.s3.forcePathStyle).toBe(true);
    expect(c.maxDelayMs).toBe(5);
  });

  it('names every bad variable', () => {
    expect(() => loadConfig({ ...AUTH, OFTSR_MAX_BATCH: '0', OFTSR_PROVIDERS: 'tpu' })).toThrow(
      /OFTSR_PROVIDERS.*OFTSR_MAX_BATCH|OFTSR_MAX_BATCH.*OFTSR_PROVIDERS/,
    );
    expect(() => loadConfig({ ...AUTH, OFTSR_S3_PART_SIZE_MB: '4' })).toThrow(/OFTSR_S3_PART_SIZE_MB/);
    expect(() => loadConfig({ ...AUTH, OFTSR_TILE_SIZES: '64,abc' })).toThrow(/OFTSR_TILE_SIZES/);
  });

  it('requires credentials unless auth is disabled explicitly', () => {
    expect(() => loadConfig({})).toThrow(/OFTSR_AUTH_TOKENS or OFTSR_AUTH_HMAC_SECRET/);
    expect(() => loadConfig({ OFTSR_AUTH_TOKENS: 'short' })).toThrow(/16 characters/);
    expect(loadConfig({ OFTSR_AUTH_DISABLED: '1' }).auth.disabled).toBe(true);
    expect(loadConfig({ OFTSR_AUTH_HMAC_SECRET: 'x'.repeat(32) }).auth.hmacSecret).toHaveLength(32);
  });
});
