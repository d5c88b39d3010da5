/**
 * The seeded noise field eps(seed, channel, y, x): a pure function of output-pixel coordinates, so
 * any tile computes its own noise and overlapping tiles agree exactly, whatever the tile order or
 * batch. Twin of training/oftsr/noise.py; both are checked against testdata/noise-vectors.json.
 *
 * Spec: h = H(H(H(H(seed + 0x9E3779B9) ^ channel) ^ y) ^ x) with H = lowbias32, all mod 2^32;
 * u1 = (H(h ^ 0x68E31DA4) + 1) / 2^32 in (0, 1], u2 = H(h ^ 0xB5297A4D) / 2^32 in [0, 1);
 * eps = sqrt(-2 ln u1) · cos(2π u2) (Box–Muller, float64).
 */

const GOLDEN = 0x9e3779b9;
const STREAM_U1 = 0x68e31da4;
const STREAM_U2 = 0xb5297a4d;
const TWO_POW_MINUS_32 = 2 ** -32;

/** Chris Wellons' lowbias32 integer hash (uint32 → uint32). */
export function lowbias32(value: number): number {
  let x = value >>> 0;
  x ^= x >>> 16;
  x = Math.imul(x, 0x7feb352d);
  x ^= x >>> 15;
  x = Math.imul(x, 0x846ca68b);
  x ^= x >>> 16;
  return x >>> 0;
}

function seedHash(seed: number): number {
  if (!Number.isInteger(seed) || seed < 0 || seed > 0xffffffff) {
    throw new RangeError(`seed must be a uint32, got ${seed}`);
  }
  return lowbias32(seed + GOLDEN);
}

function gaussianFromHash(h: number): number {
  const u1 = (lowbias32(h ^ STREAM_U1) + 1) * TWO_POW_MINUS_32;
  const u2 = lowbias32(h ^ STREAM_U2) * TWO_POW_MINUS_32;
  return Math.sqrt(-2 * Math.log(u1)) * Math.cos(2 * Math.PI * u2);
}

/**
 * The uint32 counter hash of one noise sample.
 *
 * @param seed - uint32 request seed.
 * @param channel - channel index (0..2 for RGB).
 * @param y - output-pixel row (uint32).
 * @param x - output-pixel column (uint32).
 */
export function noiseHash(seed: number, channel: number, y: number, x: number): number {
  return lowbias32(lowbias32(lowbias32(seedHash(seed) ^ channel) ^ y) ^ x);
}

/** One N(0, 1) noise sample at an output pixel, in float64 (see the module doc for the spec). */
export function noiseAt(seed: number, channel: number, y: number, x: number): number {
  return gaussianFromHash(noiseHash(seed, channel, y, x));
}

/**
 * Writes the noise of the output window [y0, y0+height) × [x0, x0+width) into `out`, CHW float32.
 * The per-channel and per-row hash prefixes are hoisted, which matters at 4× output resolution.
 *
 * @throws {RangeError} when `out` is shorter than channels × height × width or the seed is not uint32.
 */
export function fillNoise(
  out: Float32Array,
  seed: number,
  y0: number,
  x0: number,
  height: number,
  width: number,
  channels = 3,
): Float32Array {
  if (out.length < channels * height * width) {
    throw new RangeError(`out has ${out.length} elements, need ${channels * height * width}`);
  }
  const hs = seedHash(seed);
  let i = 0;
  for (let c = 0; c < channels; c++) {
    const hc = lowbias32(hs ^ c);
    for (let y = y0; y < y0 + height; y++) {
      const hy = lowbias32(hc ^ y);
      for (let x = x0; x < x0 + width; x++) {
        out[i++] = gaussianFromHash(lowbias32(hy ^ x));
      }
    }
  }
  return out;
}

/** A fresh CHW float32 noise window; see {@link fillNoise}. */
export function noiseField(
  seed: number,
  y0: number,
  x0: number,
  height: number,
  width: number,
  channels = 3,
): Float32Array {
  return fillNoise(new Float32Array(channels * height * width), seed, y0, x0, height, width, channels);
}

/** Options of {@link NoiseCache}. */
export interface NoiseCacheOptions {
  /** Most bytes of noise kept; windows larger than this are computed and not kept. */
  maxBytes: number;
}

/**
 * A bounded least-recently-used cache of noise windows keyed by (seed, origin, size, channels). The
 * default seed and the few tile sizes make the same windows recur across requests (a 256² input is
 * always one 1024² window at the origin), so a hit replaces ~0.12 s per output MP of hashing and
 * Box–Muller with nothing. Values are exactly {@link fillNoise}'s.
 *
 * The arrays it returns are shared between callers: read them, never write them.
 *
 * @example
 * const cache = new NoiseCache({ maxBytes: 256 * 2 ** 20 });
 * const eps = cache.get(0, 0, 0, 1024, 1024); // computed once, then reused
 */
export class NoiseCache {
  readonly maxBytes: number;
  private readonly entries = new Map<string, Float32Array>();
  private bytes = 0;
  /** Lookups answered from the cache, and lookups that computed. */
  hits = 0;
  misses = 0;

  constructor(options: NoiseCacheOptions) {
    if (!(options.maxBytes >= 0)) throw new RangeError(`maxBytes must be ≥ 0, got ${options.maxBytes}`);
    this.maxBytes = options.maxBytes;
  }

  /** Bytes held now. */
  get size(): number {
    return this.bytes;
  }

  /**
   * The CHW float32 noise of the output window [y0, y0+height) × [x0, x0+width); see {@link fillNoise}.
   * `compute` makes it on a miss (default {@link noiseField}); it must return exactly those values.
   *
   * @throws {RangeError} when the seed is not uint32.
   */
  get(
    seed: number,
    y0: number,
    x0: number,
    height: number,
    width: number,
    channels = 3,
    compute: () => Float32Array = () => noiseField(seed, y0, x0, height, width, channels),
  ): Float32Array {
    const key = `${seed}:${y0}:${x0}:${height}:${width}:${channels}`;
    const hit = this.entries.get(key);
    if (hit) {
      this.hits += 1;
      this.entries.delete(key);
      this.entries.set(key, hit);
      return hit;
    }
    this.misses += 1;
    const noise = compute();
    if (noise.byteLength > this.maxBytes) return noise;
    while (this.bytes + noise.byteLength > this.maxBytes) {
      const [oldest, old] = this.entries.entries().next().value as [string, Float32Array];
      this.entries.delete(oldest);
      this.bytes -= old.byteLength;
    }
    this.entries.set(key, noise);
    this.bytes += noise.byteLength;
    return noise;
  }

  /** Drops every entry. */
  clear(): void {
    this.entries.clear();
    this.bytes = 0;
  }
}
