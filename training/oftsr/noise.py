"""The seeded noise field: eps(seed, channel, y, x), a pure function of output-pixel coordinates.

Twin of packages/shared/src/noise.ts; both are checked against packages/shared/testdata/noise-vectors.json.
A counter-based hash (chained lowbias32) gives two 32-bit uniforms per sample, Box-Muller maps them to N(0, 1).
No state, no order: any tile computes its own noise and overlapping tiles agree exactly.
"""

from __future__ import annotations

import numpy as np

_M32 = np.uint64(0xFFFFFFFF)
GOLDEN = 0x9E3779B9
STREAM_U1 = 0x68E31DA4
STREAM_U2 = 0xB5297A4D


def lowbias32(x: np.ndarray) -> np.ndarray:
    """Chris Wellons' lowbias32 integer hash on uint32 values (computed in uint64, masked)."""
    x = x.astype(np.uint64) & _M32
    x ^= x >> np.uint64(16)
    x = (x * np.uint64(0x7FEB352D)) & _M32
    x ^= x >> np.uint64(15)
    x = (x * np.uint64(0x846CA68B)) & _M32
    x ^= x >> np.uint64(16)
    return x


def counter_hash(seed: int, channel: np.ndarray, y: np.ndarray, x: np.ndarray) -> np.ndarray:
    """h = H(H(H(H(seed + golden) ^ channel) ^ y) ^ x), H = lowbias32, all mod 2^32."""
    h = lowbias32(np.asarray((int(seed) + GOLDEN) & 0xFFFFFFFF, dtype=np.uint64))
    h = lowbias32(h ^ np.asarray(channel, dtype=np.uint64))
    h = lowbias32(h ^ np.asarray(y, dtype=np.uint64))
    return lowbias32(h ^ np.asarray(x, dtype=np.uint64))


def gaussian_from_hash(h: np.ndarray) -> np.ndarray:
    """Box-Muller on two uniforms drawn from h: u1 in (0, 1], u2 in [0, 1); float64."""
    u1 = (lowbias32(h ^ np.uint64(STREAM_U1)).astype(np.float64) + 1.0) * 2.0**-32
    u2 = lowbias32(h ^ np.uint64(STREAM_U2)).astype(np.float64) * 2.0**-32
    return np.sqrt(-2.0 * np.log(u1)) * np.cos(2.0 * np.pi * u2)


def noise_field(seed: int, y0: int, x0: int, height: int, width: int, channels: int = 3) -> np.ndarray:
    """The noise of the output window [y0, y0+height) x [x0, x0+width) as float32 [channels, height, width]."""
    if not 0 <= int(seed) <= 0xFFFFFFFF:
        raise ValueError(f"seed must be a uint32, got {seed}")
    c = np.arange(channels, dtype=np.uint64)[:, None, None]
    y = np.arange(y0, y0 + height, dtype=np.uint64)[None, :, None]
    x = np.arange(x0, x0 + width, dtype=np.uint64)[None, None, :]
    return gaussian_from_hash(counter_hash(seed, c, y, x)).astype(np.float32)
