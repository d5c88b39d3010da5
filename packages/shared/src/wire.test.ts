import { describe, expect, it } from 'vitest';
import { HEADERS, OBJECT_METADATA, decodeMetadataValue, encodeMetadataValue } from './wire.ts';

describe('wire names', () => {
  it('header names and metadata keys are lower case and unique', () => {
    for (const names of [Object.values(HEADERS), Object.values(OBJECT_METADATA)]) {
      for (const name of names) expect(name).toBe(name.toLowerCase());
      expect(new Set(names).size).toBe(names.length);
    }
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
