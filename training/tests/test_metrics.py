"""Image-quality metrics: hand-computed PSNR, SSIM's identity, BT.601 Y, MATLAB's bicubic resize, sharpness, NIQE."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from conftest import SHARED

from oftsr.metrics import (
    NIQE,
    laplacian_energy,
    matlab_imresize_half,
    matlab_resize_matrix,
    psnr,
    psnr_rgb,
    psnr_y,
    rgb_to_y,
    sharpness_ratio,
    ssim,
    ssim_y,
)

NIQE_PARAMS = SHARED / "metrics" / "niqe_pris_params.npz"
SET5 = SHARED / "datasets" / "test" / "Set5"


def _textured(h: int = 64, w: int = 64, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w]
    base = 128 + 60 * np.sin(0.3 * xx) * np.cos(0.2 * yy)
    img = base[..., None] + rng.normal(0, 10, (h, w, 3))
    return np.clip(np.round(img), 0, 255).astype(np.uint8)


def test_psnr_known_mse():
    a = torch.zeros(4, 4)
    assert psnr(a, a) == float("inf")
    # Off by 1 everywhere: MSE 1, PSNR = 20 log10(255) = 48.1308...
    assert psnr(a, a + 1) == pytest.approx(48.13080360867909, abs=1e-9)
    # Half the pixels off by 2: MSE = 2, PSNR = 10 log10(255^2 / 2) = 45.1205...
    b = a.clone()
    b[:2] = 2
    assert psnr(a, b) == pytest.approx(10 * math.log10(65025 / 2), abs=1e-9)
    assert psnr(a, b) == pytest.approx(45.12050365204, abs=1e-9)
    # Peak 1: MSE 0.01 -> 20 dB.
    assert psnr(torch.zeros(3), torch.full((3,), 0.1), peak=1.0) == pytest.approx(20.0)
    # 0 vs 255 everywhere: 0 dB.
    assert psnr(a, a + 255) == pytest.approx(0.0, abs=1e-12)


def test_psnr_rgb_and_y_on_uint8():
    a = np.zeros((16, 16, 3), np.uint8)
    b = a.copy()
    b[..., 1] = 3  # only green: RGB MSE = 9 / 3 = 3
    assert psnr_rgb(a, b) == pytest.approx(10 * math.log10(65025 / 3))
    # Y differs by 128.553 * 3 / 255 everywhere.
    dy = 128.553 * 3 / 255
    assert psnr_y(a, b) == pytest.approx(10 * math.log10(65025 / dy**2))
    assert psnr_y(a, a) == float("inf")


def test_rgb_to_y_pure_colours():
    px = torch.tensor([[[255, 255, 255], [0, 0, 0], [255, 0, 0], [0, 255, 0], [0, 0, 255]]], dtype=torch.uint8)
    y = rgb_to_y(px)[0]
    assert y.dtype == torch.float64
    want = [235.0, 16.0, 16 + 65.481, 16 + 128.553, 16 + 24.966]
    assert y.tolist() == pytest.approx(want, abs=1e-9)


def test_ssim_identity_and_ordering():
    img = torch.from_numpy(_textured()[..., 0]).double()
    assert ssim(img, img) == pytest.approx(1.0, abs=1e-12)
    noisy = (img + torch.randn_like(img) * 20).clamp(0, 255)
    very_noisy = (img + torch.randn_like(img) * 60).clamp(0, 255)
    s1, s2 = ssim(img, noisy), ssim(img, very_noisy)
    assert 0 < s2 < s1 < 1
    # A constant offset leaves the structure and contrast terms at 1: SSIM = luminance term only.
    off = img + 10
    assert 0.9 < ssim(img, off) < 1.0
    a = _textured(seed=1)
    assert ssim_y(a, a) == pytest.approx(1.0, abs=1e-12)


def test_matlab_resize_matrix_rows_sum_to_one():
    for n_in, n_out in [(16, 8), (17, 9), (50, 25), (10, 20), (7, 3)]:
        m = matlab_resize_matrix(n_in, n_out)
        assert m.shape == (n_out, n_in)
        assert torch.allclose(m.sum(dim=1), torch.ones(n_out, dtype=m.dtype), atol=1e-12)


def test_matlab_resize_half_interior_kernel():
    """MATLAB's antialiased bicubic x1/2 kernel, by hand: 0.5 * cubic(d / 2) at d = 0.5, 1.5, 2.5, 3.5 gives
    0.43359375, 0.11328125, -0.03515625, -0.01171875 (Keys a = -0.5), symmetric around the output centre."""
    m = matlab_resize_matrix(16, 8)
    row = m[3]  # output pixel 4 (1-based) sits at input 7.5 (1-based): taps at 0-based inputs 3..10
    want = torch.zeros(16, dtype=row.dtype)
    want[3:11] = torch.tensor([-0.01171875, -0.03515625, 0.11328125, 0.43359375,
                               0.43359375, 0.11328125, -0.03515625, -0.01171875], dtype=row.dtype)
    assert torch.allclose(row, want, atol=1e-12)
    # First row: symmetric padding folds the taps that fall before the image back onto it.
    row0 = m[0]
    assert row0[0].item() == pytest.approx(0.43359375 + 0.11328125)
    assert row0[1].item() == pytest.approx(0.43359375 - 0.03515625)


def test_matlab_imresize_half_constant_and_shape():
    img = torch.full((21, 30), 0.37, dtype=torch.float64)
    out = matlab_imresize_half(img)
    assert out.shape == (11, 15)
    assert torch.allclose(out, torch.full_like(out, 0.37), atol=1e-12)


def test_sharpness_ratio():
    a = _textured()
    assert sharpness_ratio(a, a) == pytest.approx(1.0)
    flat = np.full_like(a, 90)
    assert laplacian_energy(flat) == 0.0
    blurred = ((a[:-1].astype(np.int32) + a[1:]) // 2).astype(np.uint8)
    assert sharpness_ratio(blurred, a[:-1]) < 1.0


def _need_niqe():
    if not NIQE_PARAMS.exists():
        pytest.skip(f"NIQE pristine parameters not found at {NIQE_PARAMS} (../shared is optional)")


def _set5_image(name: str = "bird") -> np.ndarray:
    path = SET5 / f"{name}.png"
    if not path.exists():
        pytest.skip(f"test image {path} not found (../shared is optional)")
    from oftsr.data import load_rgb

    return load_rgb(path)


def test_niqe_finite_and_ranks_degradations():
    _need_niqe()
    from PIL import Image, ImageFilter

    img = _set5_image("bird")
    niqe = NIQE(NIQE_PARAMS)
    clean = niqe(img)
    blurred = niqe(np.asarray(Image.fromarray(img).filter(ImageFilter.GaussianBlur(3))))
    rng = np.random.default_rng(0)
    noisy = niqe(np.clip(img + rng.normal(0, 25, img.shape), 0, 255).astype(np.uint8))
    # Measured: clean 4.44, Gaussian blur (sigma 3) 10.72, additive noise (sigma 25) 12.43.
    assert all(math.isfinite(v) for v in (clean, blurred, noisy))
    assert 0 < clean < 8
    assert blurred > clean + 2
    assert noisy > clean + 2


def test_niqe_rejects_small_images():
    _need_niqe()
    with pytest.raises(ValueError):
        NIQE(NIQE_PARAMS)(np.zeros((64, 200, 3), np.uint8))


def test_jpeg_roundtrip_degrades_with_quality():
    import torch

    from oftsr.evaluate import jpeg_roundtrip

    yy, xx = torch.meshgrid(torch.linspace(-1, 1, 48), torch.linspace(-1, 1, 64), indexing="ij")
    lr = torch.stack([torch.sin(3 * xx + yy), torch.cos(2 * yy), xx * yy])[None].clamp(-1, 1)
    lr = torch.round((lr + 1) * 127.5) / 127.5 - 1
    err = {q: float((jpeg_roundtrip(lr, q) - lr).abs().mean()) for q in (95, 75, 10)}
    assert jpeg_roundtrip(lr, 75).shape == lr.shape
    assert err[95] < err[75] < err[10]
    assert err[95] < 0.02
