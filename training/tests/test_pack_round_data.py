"""scripts/pack_round_data.py: the GPU round's data subset keeps pixels exactly (lossless WebP), takes one centred
crop per training image at its subset's size, copies the round's test sets whole, and leaves other subsets out."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
from PIL import Image

from conftest import TRAINING

SCRIPT = TRAINING / "scripts" / "pack_round_data.py"


def test_pack_keeps_pixels_and_crops_centred(tmp_path):
    rng = np.random.default_rng(0)
    train, test, out = tmp_path / "train", tmp_path / "test", tmp_path / "out"
    images = {}
    for subset, size in (("BSDS200", (330, 400)), ("WikiPhotos", (500, 450)), ("T91", (100, 100))):
        (train / subset).mkdir(parents=True)
        images[subset] = rng.integers(0, 256, (*size, 3), dtype=np.uint8)
        Image.fromarray(images[subset]).save(train / subset / "a.png")
    (test / "Set5").mkdir(parents=True)
    images["Set5"] = rng.integers(0, 256, (40, 60, 3), dtype=np.uint8)
    Image.fromarray(images["Set5"]).save(test / "Set5" / "bird.png")
    proc = subprocess.run([sys.executable, str(SCRIPT), "--train", str(train), "--test", str(test), "--out", str(out),
                           "--workers", "1"], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert sorted(p.name for p in (out / "data").iterdir()) == ["BSDS200_a.webp", "WikiPhotos_a.webp"]
    for subset, crop in (("BSDS200", 256), ("WikiPhotos", 384)):
        got = np.asarray(Image.open(out / "data" / f"{subset}_a.webp").convert("RGB"))
        src = images[subset]
        top, left = (src.shape[0] - crop) // 2, (src.shape[1] - crop) // 2
        assert got.shape == (crop, crop, 3)
        assert np.array_equal(got, src[top : top + crop, left : left + crop])
    got = np.asarray(Image.open(out / "test" / "Set5" / "bird.webp").convert("RGB"))
    assert np.array_equal(got, images["Set5"])
    assert "packed 3 images" in proc.stdout and "a GPU round carries" in proc.stdout
