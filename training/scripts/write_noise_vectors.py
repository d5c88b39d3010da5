"""Writes packages/shared/testdata/noise-vectors.json, the test vectors both noise implementations must reproduce."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from oftsr.noise import counter_hash, gaussian_from_hash, noise_field  # noqa: E402

OUT = Path(__file__).resolve().parents[2] / "packages" / "shared" / "testdata" / "noise-vectors.json"


def main() -> None:
    rng = np.random.default_rng(20261128)
    points = [(0, 0, 0, 0), (0, 1, 0, 0), (0, 0, 1, 0), (0, 0, 0, 1), (1, 2, 511, 767), (0xFFFFFFFF, 2, 65535, 65535)]
    points += [
        (int(rng.integers(0, 2**32)), int(rng.integers(0, 3)), int(rng.integers(0, 8192)), int(rng.integers(0, 8192)))
        for _ in range(58)
    ]
    samples = []
    for seed, c, y, x in points:
        h = counter_hash(seed, np.array(c), np.array(y), np.array(x))
        samples.append({"seed": seed, "channel": c, "y": y, "x": x, "hash": int(h), "value": float(gaussian_from_hash(h))})
    window = {"seed": 7, "y0": 12, "x0": 40, "height": 4, "width": 5, "channels": 3}
    values = noise_field(window["seed"], window["y0"], window["x0"], window["height"], window["width"])
    doc = {
        "description": "eps(seed, channel, y, x) test vectors; written by training/scripts/write_noise_vectors.py",
        "tolerance": 1e-9,
        "samples": samples,
        "window": {**window, "values_float32_chw": [float(v) for v in values.ravel()]},
    }
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(doc, indent=1) + "\n")
    print(f"wrote {len(samples)} samples and a {values.shape} window to {OUT}")


if __name__ == "__main__":
    main()
