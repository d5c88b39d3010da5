"""Evaluates the OpenCV x4 peers (FSRCNN, ESPCN, LapSRN from ../shared/peers/models) under our protocol and writes
training/results/peers.json, which the model card shows beside our model.

Needs OpenCV's contrib build (`.venv/bin/pip install opencv-contrib-python-headless`); not part of the default
set-up because only this script uses it. Same LR inputs as training/evaluate.py (bicubic x1/4, antialiased, 8-bit).

These peers were trained on LR made by `cv2.resize(..., INTER_CUBIC)`, which does not antialias when it shrinks
(Saafke/FSRCNN_Tensorflow data_utils.py; the TF-ESPCN/TF-LapSRN exports follow the same recipe). On the standard
antialiased protocol they land at bicubic level. So the script also scores them, and bicubic, on the degradation they
were trained on (`trained_degradation` in the JSON): there they do beat bicubic, which shows the models and our
harness work and that the gap is the degradation, not a bug. Only the first table is comparable with our model.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from oftsr.data import degrade, load_test_set, to_signed  # noqa: E402
from oftsr.evaluate import to_uint8  # noqa: E402
from oftsr.metrics import NIQE, psnr_rgb, psnr_y, sharpness_ratio, ssim_y  # noqa: E402

HERE = Path(__file__).resolve().parents[1]
SHARED = HERE.parent.parent / "shared"
PEERS = {"fsrcnn": "FSRCNN_x4.pb", "espcn": "ESPCN_x4.pb", "lapsrn": "LapSRN_x4.pb"}


def main() -> None:
    import cv2

    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--test", default=str(SHARED / "datasets" / "test"))
    ap.add_argument("--models", default=str(SHARED / "peers" / "models"))
    ap.add_argument("--out", default=str(HERE / "results" / "peers.json"))
    args = ap.parse_args()
    niqe = NIQE(SHARED / "metrics" / "niqe_pris_params.npz")
    nets = {}
    for name, file in PEERS.items():
        sr = cv2.dnn_superres.DnnSuperResImpl_create()
        sr.readModel(str(Path(args.models) / file))
        sr.setModel(name, 4)
        nets[name] = sr
    result = {"opencv": cv2.__version__, "date": time.strftime("%Y-%m-%d"), "sets": {},
              "trained_degradation": {"degradation": "cv2.resize INTER_CUBIC x1/4 (no antialiasing), 8-bit",
                                      "metric": "psnr_y", "sets": {}}}
    for set_dir in sorted(Path(args.test).iterdir()):
        sums: dict[str, dict[str, list[float]]] = {}
        own: dict[str, list[float]] = {}
        for _, hr in load_test_set(set_dir):
            lr = to_uint8(degrade(to_signed(torch.from_numpy(hr.copy()).permute(2, 0, 1)[None])))
            h, w = hr.shape[:2]
            lr_cv = cv2.resize(hr, (w // 4, h // 4), interpolation=cv2.INTER_CUBIC)
            own.setdefault("bicubic", []).append(psnr_y(cv2.resize(lr_cv, (w, h), interpolation=cv2.INTER_CUBIC), hr))
            for name, sr in nets.items():
                up = sr.upsample(np.ascontiguousarray(lr_cv[..., ::-1]))[..., ::-1]
                own.setdefault(name, []).append(psnr_y(np.ascontiguousarray(up[:h, :w]), hr))
                out = sr.upsample(np.ascontiguousarray(lr[..., ::-1]))[..., ::-1]
                out = np.ascontiguousarray(out[: hr.shape[0], : hr.shape[1]])
                m = {"psnr_y": psnr_y(out, hr), "ssim_y": ssim_y(out, hr), "psnr_rgb": psnr_rgb(out, hr),
                     "sharpness": sharpness_ratio(out, hr)}
                if niqe.fits(out):
                    m["niqe"] = niqe(out)
                for k, v in m.items():
                    sums.setdefault(name, {}).setdefault(k, []).append(v)
        result["sets"][set_dir.name] = {n: {k: float(np.mean(v)) for k, v in ks.items()} for n, ks in sums.items()}
        result["trained_degradation"]["sets"][set_dir.name] = {n: float(np.mean(v)) for n, v in own.items()}
        print(set_dir.name, {n: round(v["psnr_y"], 2) for n, v in result["sets"][set_dir.name].items()},
              "trained degradation:", {n: round(v, 2) for n, v in result["trained_degradation"]["sets"][set_dir.name].items()},
              flush=True)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=1) + "\n")


if __name__ == "__main__":
    main()
