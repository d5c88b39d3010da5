import { describe, expect, it } from 'vitest';
import { HEADERS, OBJECT_METADATA, RUNNER_ROUTES, decodeMetadataValue, encodeMetadataValue } from './wire.ts';

describe('wire names', () => {
  it('header names and metadata keys are lower case and unique', () => {
    for (const names of [Object.values(HEADERS), Object.values(OBJECT_METADATA)]) {
      for (const name of names) expect(name).toBe(name.toLowerCase());
      expect(new Set(names).size).toBe(names.length);
    }
  });

  it('pins the runner routes (a changed path breaks every deployed caller)', () => {
    expect(RUNNER_ROUTES).toEqual({
      upscale: '/v1/upscale',
      jobs: '/v1/jobs',
      job: '/v1/jobs/:id',
      live: '/v2/health/live',
      ready: '/v2/health/ready',
      server: '/v2',
      model: '/v2/models/oftsr',
      modelReady: '/v2/models/oftsr/ready',
      metrics: '/metrics',
    });
  });
});

describe('encodeMetadataValue', () => {
  it('keeps printable ASCII, percent-encodes the rest and %, and round-trips', () => {
    expect(encodeMetadataValue('format=png&q=85')).toBe('format=png&q=85');
    for (const value of ['b/src/ü-日本.png', '100% done', 'tab\there', 'emoji 😀']) {
      const encoded = encodeMetadataValue(value);
      expect(encoded).toMatch(/^[\x20-\x7e]*$/);
      expect(decodeMetadataValue(encoded)).toBe(value);
    }
    expect(encodeMetadataValue('lone \ud800')).toBe('lone %EF%BF%BD');
  });

  it('a malformed escape reads back as stored', () => {
    expect(decodeMetadataValue('50%')).toBe('50%');
  });
});
