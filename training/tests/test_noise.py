"""The seeded noise field against the shared test vectors (packages/shared/testdata/noise-vectors.json)."""

from __future__ import annotations

import json

import numpy as np
import pytest
from conftest import REPO

from oftsr.noise import counter_hash, gaussian_from_hash, lowbias32, noise_field

VECTORS = json.loads((REPO / "packages" / "shared" / "testdata" / "noise-vectors.json").read_text())


def test_vector_file_is_non_trivial():
    assert len(VECTORS["samples"]) >= 5
    assert 0 < VECTORS["tolerance"] <= 1e-6


@pytest.mark.parametrize("s", VECTORS["samples"], ids=lambda s: f"seed{s['seed']}-c{s['channel']}-y{s['y']}-x{s['x']}")
def test_samples_hash_and_value(s):
    h = counter_hash(s["seed"], np.uint64(s["channel"]), np.uint64(s["y"]), np.uint64(s["x"]))
    assert int(h) == s["hash"]
    assert abs(float(gaussian_from_hash(h)) - s["value"]) <= VECTORS["tolerance"]
    # The window function agrees with the point function.
    win = noise_field(s["seed"], s["y"], s["x"], 1, 1, channels=s["channel"] + 1)
    assert abs(float(win[s["channel"], 0, 0]) - s["value"]) <= 1e-6


def test_lowbias32_known_value():
    # An independent Python-int implementation of the published lowbias32 constants.
    def ref(x: int) -> int:
        x &= 0xFFFFFFFF
        x ^= x >> 16
        x = (x * 0x7FEB352D) & 0xFFFFFFFF
        x ^= x >> 15
        x = (x * 0x846CA68B) & 0xFFFFFFFF
        x ^= x >> 16
        return x

    xs = np.array([0, 1, 2, 0xDEADBEEF, 0xFFFFFFFF], dtype=np.uint64)
    assert [int(v) for v in lowbias32(xs)] == [ref(int(v)) for v in xs]
    assert int(lowbias32(np.uint64(0))) == 0


def test_window_matches_file():
    w = VECTORS["window"]
    got = noise_field(w["seed"], w["y0"], w["x0"], w["height"], w["width"], w["channels"])
    assert got.dtype == np.float32
    assert got.shape == (w["channels"], w["height"], w["width"])
    want = np.asarray(w["values_float32_chw"], dtype=np.float32).reshape(got.shape)
    np.testing.assert_array_equal(got, want)


def test_overlapping_windows_agree():
    a = noise_field(123, 10, 20, 40, 50)  # y 10..49, x 20..69
    b = noise_field(123, 30, 45, 40, 50)  # y 30..69, x 45..94
    np.testing.assert_array_equal(a[:, 20:40, 25:50], b[:, 0:20, 0:25])
    # Different seeds and different channels give different noise.
    assert not np.array_equal(noise_field(124, 10, 20, 40, 50), a)
    assert not np.array_equal(a[0], a[1])


def test_statistics_standard_normal():
    f = noise_field(42, 0, 0, 256, 256).astype(np.float64)
    n = f.size  # 196608 samples: std error of the mean ~ 0.0023
    assert abs(f.mean()) < 0.02
    assert abs(f.std() - 1.0) < 0.02
    assert abs((f > 0).mean() - 0.5) < 0.01
    assert abs((np.abs(f) < 1.0).mean() - 0.6827) < 0.01
    assert abs((f**4).mean() - 3.0) < 0.1  # Gaussian kurtosis
    # Neighbouring pixels are uncorrelated.
    assert abs(np.mean(f[:, :, 1:] * f[:, :, :-1])) < 0.02
    assert abs(np.mean(f[:, 1:, :] * f[:, :-1, :])) < 0.02
    assert np.isfinite(f).all() and n == 3 * 256 * 256


@pytest.mark.parametrize("seed", [-1, 2**32, 2**40])
def test_seed_out_of_range_raises(seed):
    with pytest.raises(ValueError):
        noise_field(seed, 0, 0, 2, 2)


def test_seed_extremes_accepted():
    assert noise_field(0, 0, 0, 2, 2).shape == (3, 2, 2)
    assert noise_field(2**32 - 1, 0, 0, 2, 2).shape == (3, 2, 2)
