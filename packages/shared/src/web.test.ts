import { describe, expect, it } from 'vitest';
import { sha256Hex, web } from './web.ts';

describe('web globals', () => {
  it('hashes UTF-8 with SHA-256 (known vectors)', async () => {
    expect(await sha256Hex('')).toBe('e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855');
    expect(await sha256Hex('abc')).toBe('ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad');
  });

  it('exposes URL', () => {
    expect(new web.URL('HTTP://A.example:80/x/../y').href).toBe('http://a.example/y');
  });
});
