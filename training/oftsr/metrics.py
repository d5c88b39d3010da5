"""Image-quality metrics, on uint8 RGB images, vectorised in torch (float64) so they run on the CPU or the GPU.

- PSNR and SSIM on Y (ITU-R BT.601, as in MATLAB's rgb2ycbcr), `crop` pixels shaved at each border: the SR protocol.
- PSNR on RGB, no crop: the OFTSR paper's protocol.
- NIQE (Mittal, Soundararajan & Bovik, 2013), written from the published algorithm; its pristine model (mu, cov and
  the 7x7 window) is the original release's, read from ../shared/metrics/niqe_pris_params.npz.
- Sharpness ratio: mean |Laplacian| of the output's Y over that of the ground truth (1.0 = as much high-frequency
  energy as the truth; below 1 is blur, above 1 is noise or hallucinated texture).
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

_DT = torch.float64


def _as_tensor(img: np.ndarray | torch.Tensor, device=None) -> torch.Tensor:
    if isinstance(img, np.ndarray):
        img = torch.from_numpy(np.array(img, copy=True))  # images from PIL are read-only views
    return img.to(device=device, dtype=_DT)


def rgb_to_y(img: torch.Tensor) -> torch.Tensor:
    """H x W x 3 RGB in [0, 255] -> Y in [16, 235] (BT.601, MATLAB's rgb2ycbcr), float64."""
    img = img.to(_DT) / 255.0
    return 16.0 + 65.481 * img[..., 0] + 128.553 * img[..., 1] + 24.966 * img[..., 2]


def _shave(x: torch.Tensor, crop: int) -> torch.Tensor:
    return x[crop:-crop, crop:-crop] if crop > 0 else x


def psnr(a: torch.Tensor, b: torch.Tensor, peak: float = 255.0) -> float:
    mse = torch.mean((a.to(_DT) - b.to(_DT)) ** 2).item()
    return float("inf") if mse == 0 else 10.0 * math.log10(peak**2 / mse)


def psnr_y(out: np.ndarray, ref: np.ndarray, crop: int = 4, device=None) -> float:
    return psnr(_shave(rgb_to_y(_as_tensor(out, device)), crop), _shave(rgb_to_y(_as_tensor(ref, device)), crop))


def psnr_rgb(out: np.ndarray, ref: np.ndarray, device=None) -> float:
    return psnr(_as_tensor(out, device), _as_tensor(ref, device))


def _gaussian_window(size: int = 11, sigma: float = 1.5, device=None) -> torch.Tensor:
    ax = torch.arange(size, dtype=_DT, device=device) - (size - 1) / 2
    g = torch.exp(-(ax**2) / (2 * sigma**2))
    g = g / g.sum()
    return torch.outer(g, g)


def ssim(a: torch.Tensor, b: torch.Tensor) -> float:
    """SSIM of two single-channel images in [0, 255] (Wang et al. 2004: 11x11 Gaussian, sigma 1.5, 'valid')."""
    c1, c2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2
    w = _gaussian_window(device=a.device)[None, None]
    a, b = a.to(_DT)[None, None], b.to(_DT)[None, None]
    filt = lambda x: F.conv2d(x, w)  # noqa: E731
    mu1, mu2 = filt(a), filt(b)
    s11 = filt(a * a) - mu1**2
    s22 = filt(b * b) - mu2**2
    s12 = filt(a * b) - mu1 * mu2
    m = ((2 * mu1 * mu2 + c1) * (2 * s12 + c2)) / ((mu1**2 + mu2**2 + c1) * (s11 + s22 + c2))
    return m.mean().item()


def ssim_y(out: np.ndarray, ref: np.ndarray, crop: int = 4, device=None) -> float:
    return ssim(_shave(rgb_to_y(_as_tensor(out, device)), crop), _shave(rgb_to_y(_as_tensor(ref, device)), crop))


_LAPLACIAN = torch.tensor([[0.0, 1.0, 0.0], [1.0, -4.0, 1.0], [0.0, 1.0, 0.0]], dtype=_DT)


def laplacian_energy(img: np.ndarray, crop: int = 4, device=None) -> float:
    y = _shave(rgb_to_y(_as_tensor(img, device)), crop)[None, None]
    return F.conv2d(y, _LAPLACIAN.to(y.device)[None, None]).abs().mean().item()


def sharpness_ratio(out: np.ndarray, ref: np.ndarray, crop: int = 4, device=None) -> float:
    return laplacian_energy(out, crop, device) / laplacian_energy(ref, crop, device)


# ----------------------------------------------------------------------------
# NIQE.


def _matlab_cubic(x: torch.Tensor) -> torch.Tensor:
    ax = x.abs()
    return ((1.5 * ax**3 - 2.5 * ax**2 + 1) * (ax <= 1)
            + (-0.5 * ax**3 + 2.5 * ax**2 - 4 * ax + 2) * ((ax > 1) & (ax <= 2)))


def matlab_resize_matrix(in_len: int, out_len: int, device=None) -> torch.Tensor:
    """MATLAB imresize(..., 'bicubic') along one axis as a dense [out, in] matrix (antialiased when shrinking,
    symmetric padding at the borders)."""
    scale = out_len / in_len
    width = 4.0 / scale if scale < 1 else 4.0
    x = torch.arange(1, out_len + 1, dtype=_DT, device=device)
    u = x / scale + 0.5 * (1 - 1 / scale)
    left = torch.floor(u - width / 2)
    taps = math.ceil(width) + 2
    idx = left[:, None] + torch.arange(taps, dtype=_DT, device=device)[None]
    dist = u[:, None] - idx
    w = scale * _matlab_cubic(dist * scale) if scale < 1 else _matlab_cubic(dist)
    w = w / w.sum(dim=1, keepdim=True)
    idx = idx.long() - 1  # 0-based
    idx = torch.where(idx < 0, -idx - 1, idx)  # symmetric: -1 -> 0, -2 -> 1
    idx = torch.where(idx >= in_len, 2 * in_len - 1 - idx, idx)
    m = torch.zeros(out_len, in_len, dtype=_DT, device=device)
    m.scatter_add_(1, idx, w)
    return m


def matlab_imresize_half(img: torch.Tensor) -> torch.Tensor:
    h, w = img.shape
    mh = matlab_resize_matrix(h, math.ceil(h / 2), img.device)
    mw = matlab_resize_matrix(w, math.ceil(w / 2), img.device)
    return mh @ img @ mw.T


_GAM = torch.arange(0.2, 10.001, 0.001, dtype=_DT)
_R_GAM = torch.exp(2 * torch.lgamma(2 / _GAM) - torch.lgamma(1 / _GAM) - torch.lgamma(3 / _GAM))


def _aggd(blocks: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Asymmetric generalized Gaussian fit (alpha, beta_l, beta_r) of each row of blocks [N, M], moment matching."""
    neg, pos = blocks < 0, blocks > 0
    left_std = torch.sqrt((blocks**2 * neg).sum(1) / neg.sum(1))  # 0/0 -> nan, as in the reference
    right_std = torch.sqrt((blocks**2 * pos).sum(1) / pos.sum(1))
    gammahat = left_std / right_std
    rhat = blocks.abs().mean(1) ** 2 / (blocks**2).mean(1)
    rhatnorm = rhat * (gammahat**3 + 1) * (gammahat + 1) / (gammahat**2 + 1) ** 2
    gam, r_gam = _GAM.to(blocks.device), _R_GAM.to(blocks.device)
    err = (r_gam[None] - rhatnorm[:, None]) ** 2
    err = torch.nan_to_num(err, nan=float("inf"))
    alpha = gam[err.argmin(1)]
    alpha = torch.where(torch.isnan(rhatnorm), torch.full_like(alpha, float("nan")), alpha)
    k = torch.sqrt(torch.exp(torch.lgamma(1 / alpha) - torch.lgamma(3 / alpha)))
    return alpha, left_std * k, right_std * k


def _block_features(blocks: torch.Tensor) -> torch.Tensor:
    """The 18 NIQE features of each block [N, bh, bw]: an AGGD fit of the MSCN coefficients and of their products
    with four neighbours (np.roll inside the block, as the reference does)."""
    n = blocks.shape[0]
    alpha, bl, br = _aggd(blocks.reshape(n, -1))
    feats = [alpha, (bl + br) / 2]
    for dy, dx in ((0, 1), (1, 0), (1, 1), (1, -1)):
        prod = blocks * torch.roll(blocks, shifts=(dy, dx), dims=(1, 2))
        a, l, r = _aggd(prod.reshape(n, -1))
        mean = (r - l) * torch.exp(torch.lgamma(2 / a) - torch.lgamma(1 / a))
        feats += [a, mean, l, r]
    return torch.stack(feats, dim=1)


class NIQE:
    """NIQE on the Y channel (rounded to integers like MATLAB), 96 x 96 blocks, two scales."""

    def __init__(self, params_path: str | Path, device=None, block: int = 96):
        p = np.load(params_path)
        self.mu = torch.as_tensor(p["mu_pris_param"], dtype=_DT, device=device).reshape(-1)
        self.cov = torch.as_tensor(p["cov_pris_param"], dtype=_DT, device=device)
        self.window = torch.as_tensor(p["gaussian_window"], dtype=_DT, device=device)[None, None]
        self.block, self.device = block, device

    def _mscn(self, img: torch.Tensor) -> torch.Tensor:
        r = self.window.shape[-1] // 2
        x = F.pad(img[None, None], (r, r, r, r), mode="replicate")
        mu = F.conv2d(x, self.window)
        sigma = torch.sqrt((F.conv2d(x * x, self.window) - mu**2).abs())
        return ((img[None, None] - mu) / (sigma + 1))[0, 0]

    def _features(self, mscn: torch.Tensor, bs: int, nh: int, nw: int) -> torch.Tensor:
        blocks = mscn[: nh * bs, : nw * bs].reshape(nh, bs, nw, bs).permute(0, 2, 1, 3).reshape(-1, bs, bs)
        return _block_features(blocks)

    def fits(self, img: np.ndarray) -> bool:
        """Whether an image holds at least one block: smaller ones are skipped, not scored."""
        return min(img.shape[:2]) >= self.block

    def __call__(self, img_rgb: np.ndarray, crop: int = 0) -> float:
        y = torch.round(_shave(rgb_to_y(_as_tensor(img_rgb, self.device)), crop))
        nh, nw = y.shape[0] // self.block, y.shape[1] // self.block
        if nh == 0 or nw == 0:
            raise ValueError(f"NIQE needs at least {self.block}x{self.block} pixels")
        y = y[: nh * self.block, : nw * self.block]
        f1 = self._features(self._mscn(y), self.block, nh, nw)
        y2 = matlab_imresize_half(y / 255.0) * 255.0
        f2 = self._features(self._mscn(y2), self.block // 2, nh, nw)
        feats = torch.cat([f1, f2], dim=1)
        mu = torch.nanmean(feats, dim=0)
        ok = feats[~torch.isnan(feats).any(dim=1)]
        cov = torch.cov(ok.T)
        d = (self.mu - mu)[None]
        q = d @ torch.linalg.pinv((self.cov + cov) / 2) @ d.T
        return float(torch.sqrt(q).item())
