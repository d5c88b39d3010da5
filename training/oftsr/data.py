"""Training data: every HR image resident on the training device as one flat uint8 buffer, batches of random crops
with the 8 dihedral augmentations gathered in a few vectorised ops (no Python work per sample), and the bicubic x1/4
degradation with antialiasing, quantised to 8 bits like the images the product receives."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

IMAGE_SUFFIXES = (".png", ".webp", ".jpg", ".jpeg", ".bmp")


def load_rgb(path: str | Path) -> np.ndarray:
    """Any 8-bit image (grey, palette, RGBA) as an H x W x 3 uint8 array."""
    with Image.open(path) as im:
        return np.asarray(im.convert("RGB"))


def list_images(root: str | Path) -> list[Path]:
    root = Path(root)
    return sorted(p for p in root.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES)


def to_signed(x_uint8: torch.Tensor) -> torch.Tensor:
    """uint8 [0, 255] -> float [-1, 1]."""
    return x_uint8.float() / 127.5 - 1.0


def quantize_signed(x: torch.Tensor) -> torch.Tensor:
    """Round a [-1, 1] image to the nearest 8-bit level."""
    return torch.round((x.clamp(-1, 1) + 1) * 127.5) / 127.5 - 1.0


def bicubic_down(hr: torch.Tensor, scale: int = 4) -> torch.Tensor:
    """x1/scale bicubic with antialiasing (PIL's BICUBIC resize: Keys a = -0.5, support widened by the scale)."""
    h, w = hr.shape[-2:]
    return F.interpolate(hr, size=(h // scale, w // scale), mode="bicubic", antialias=True, align_corners=False)


def degrade(hr: torch.Tensor, scale: int = 4) -> torch.Tensor:
    """HR in [-1, 1] -> 8-bit LR in [-1, 1], as PIL's `resize(..., BICUBIC)` makes it: PIL resamples 8-bit images in
    two separable passes, horizontal then vertical, rounding to 8 bits in between; one float pass differs from it by
    one level on about a tenth of the values."""
    h, w = hr.shape[-2:]
    mid = F.interpolate(hr.float(), size=(h, w // scale), mode="bicubic", antialias=True, align_corners=False)
    return quantize_signed(F.interpolate(quantize_signed(mid), size=(h // scale, w // scale), mode="bicubic",
                                         antialias=True, align_corners=False))


class PatchSampler:
    """Random HR crops of `patch` pixels from images held on `device`, drawn in proportion to each image's area."""

    def __init__(self, images: list[np.ndarray], patch: int, device: torch.device | str):
        keep = [im for im in images if im.shape[0] >= patch and im.shape[1] >= patch]
        if not keep:
            raise ValueError(f"no training image is at least {patch}x{patch}")
        self.patch, self.device = patch, torch.device(device)
        sizes = [im.size for im in keep]
        self.buffer = torch.from_numpy(np.concatenate([im.reshape(-1) for im in keep])).to(self.device)
        self.offsets = torch.tensor(np.cumsum([0] + sizes[:-1]), dtype=torch.int64, device=self.device)
        self.heights = torch.tensor([im.shape[0] for im in keep], dtype=torch.int64, device=self.device)
        self.widths = torch.tensor([im.shape[1] for im in keep], dtype=torch.int64, device=self.device)
        positions = (self.heights - patch + 1) * (self.widths - patch + 1)
        self.weights = positions.double() / positions.sum()
        ar = torch.arange(patch, device=self.device)
        self._dy = ar.view(1, patch, 1, 1)
        self._dx = ar.view(1, 1, patch, 1)
        self._dc = torch.arange(3, device=self.device).view(1, 1, 1, 3)
        self.num_images, self.pixels = len(keep), int(sum(im.shape[0] * im.shape[1] for im in keep))

    @classmethod
    def from_folder(cls, root: str | Path, patch: int, device, limit: int | None = None) -> "PatchSampler":
        files = list_images(root)[:limit]
        return cls([load_rgb(f) for f in files], patch, device)

    def sample(self, batch: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """A batch of HR crops, uint8 [B, 3, P, P], each under one of the 8 dihedral transforms."""
        p = self.patch
        idx = torch.multinomial(self.weights, batch, replacement=True, generator=generator)
        h, w = self.heights[idx], self.widths[idx]
        u = torch.rand(batch, 2, device=self.device, generator=generator)
        y = (u[:, 0] * (h - p + 1)).long().clamp_max(h - p)
        x = (u[:, 1] * (w - p + 1)).long().clamp_max(w - p)
        base = (self.offsets[idx] + (y * w + x) * 3).view(-1, 1, 1, 1)
        flat = base + (self._dy * w.view(-1, 1, 1, 1) + self._dx) * 3 + self._dc
        crops = self.buffer[flat].permute(0, 3, 1, 2)  # [B, 3, P, P]
        return dihedral(crops, torch.randint(0, 8, (batch,), device=self.device, generator=generator))


def dihedral(x: torch.Tensor, k: torch.Tensor) -> torch.Tensor:
    """Apply transform k in 0..7 (bit 0: flip W, bit 1: flip H, bit 2: transpose) to each sample of a square batch."""
    fw = (k & 1).bool().view(-1, 1, 1, 1)
    fh = (k & 2).bool().view(-1, 1, 1, 1)
    tr = (k & 4).bool().view(-1, 1, 1, 1)
    x = torch.where(fw, x.flip(-1), x)
    x = torch.where(fh, x.flip(-2), x)
    return torch.where(tr, x.transpose(-1, -2), x)


def load_test_set(root: str | Path) -> list[tuple[str, np.ndarray]]:
    """(name, HR uint8 H x W x 3) for every image of a test set, cropped to a multiple of 4 if needed."""
    out = []
    for f in list_images(root):
        im = load_rgb(f)
        h, w = (im.shape[0] // 4) * 4, (im.shape[1] // 4) * 4
        out.append((f.stem, im[:h, :w]))
    return out


def read_index(folder: str | Path) -> list[dict]:
    p = Path(folder) / "index.json"
    return json.loads(p.read_text()) if p.exists() else []
