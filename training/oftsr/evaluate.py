"""Evaluation: bicubic, the teacher at several NFE and the student at several t, on every test set.

Inputs are made as the product receives them: HR -> bicubic x1/4 with antialiasing -> 8-bit LR. Outputs are
quantised to 8-bit RGB before any metric. Noise comes from the shared noise field (seed 0), the same function the
runtimes use, so numbers here are the numbers a user gets. Every LR image is edge-padded on its right and bottom by
the model's margin rounded up to its alignment, then up to the alignment, and cropped back, exactly as the runtimes
do (contract 2: packages/shared frameSize), so the output does not depend on how a runtime tiles it.
"""

from __future__ import annotations

import io
import math
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from .data import degrade, load_test_set, to_signed
from .metrics import NIQE, psnr_rgb, psnr_y, sharpness_ratio, ssim_y
from .networks import BicubicUp, FlowDenoiser, OneStepStudent, StudentGraph, x0_from_lr
from .noise import noise_field
from .samplers import SAMPLERS, uniform_grid

TEACHER_NFE = (1, 2, 4, 8, 16)
STUDENT_T = (0.0, 0.25, 0.5, 0.75, 1.0)
METRICS = ("psnr_y", "ssim_y", "psnr_rgb", "niqe", "sharpness")


def to_uint8(x: torch.Tensor) -> np.ndarray:
    """[1, 3, H, W] in [-1, 1] -> H x W x 3 uint8."""
    return torch.round((x[0].clamp(-1, 1) + 1) * 127.5).to(torch.uint8).permute(1, 2, 0).cpu().numpy()


def jpeg_roundtrip(lr: torch.Tensor, quality: int) -> torch.Tensor:
    """An 8-bit LR in [-1, 1] through a baseline JPEG at `quality` (PIL, 4:2:0), as a CDN photo arrives."""
    buf = io.BytesIO()
    Image.fromarray(to_uint8(lr)).save(buf, "JPEG", quality=quality)
    decoded = np.asarray(Image.open(io.BytesIO(buf.getvalue())).convert("RGB"))
    return to_signed(torch.from_numpy(decoded.copy()).permute(2, 0, 1)[None].to(lr.device))


def pad_to(x: torch.Tensor, multiple: int, margin: int = 0) -> torch.Tensor:
    """Replicate-pad the right and bottom by `margin` rounded up to `multiple`, then up to a multiple of it."""
    h, w = x.shape[-2:]
    context = -(-margin // multiple) * multiple
    ph, pw = context + (-(h + context)) % multiple, context + (-(w + context)) % multiple
    return F.pad(x, (0, pw, 0, ph), mode="replicate") if ph or pw else x


class Evaluator:
    def __init__(self, teacher: FlowDenoiser | None, student: OneStepStudent | None, device, niqe_params: str | None,
                 alignment: int = 4, sampler: str = "euler", seed: int = 0, margin: int = 53):
        self.teacher = teacher.to(device).eval() if teacher is not None else None
        self.graph = StudentGraph(student).to(device).eval() if student is not None else None
        self.up = BicubicUp().to(device)
        self.device, self.alignment, self.sampler, self.seed = device, alignment, SAMPLERS[sampler], seed
        self.margin = margin  # the model's receptive radius (export_onnx.measure_margin: 53 for the shipped one)
        self.niqe = NIQE(niqe_params, device=device) if niqe_params else None
        self.sigma_p = (teacher or student).sigma_p

    def _metrics(self, out: np.ndarray, hr: np.ndarray) -> dict:
        m = {"psnr_y": psnr_y(out, hr, device=self.device), "ssim_y": ssim_y(out, hr, device=self.device),
             "psnr_rgb": psnr_rgb(out, hr, device=self.device),
             "sharpness": sharpness_ratio(out, hr, device=self.device)}
        if self.niqe is not None and self.niqe.fits(out):
            m["niqe"] = self.niqe(out)
        return m

    @torch.no_grad()
    def outputs(self, hr_u8: np.ndarray, nfe=TEACHER_NFE, ts=STUDENT_T, jpeg_quality: int | None = None
                ) -> dict[str, np.ndarray]:
        """Every method's 8-bit output for one HR image."""
        h, w = hr_u8.shape[:2]
        hr = to_signed(torch.from_numpy(hr_u8.copy()).permute(2, 0, 1)[None].to(self.device))
        lr = degrade(hr)
        if jpeg_quality is not None:
            lr = jpeg_roundtrip(lr, jpeg_quality)
        lr = pad_to(lr, self.alignment, self.margin)
        up_lr = self.up(lr)
        ph, pw = up_lr.shape[-2:]
        noise = torch.from_numpy(noise_field(self.seed, 0, 0, ph, pw)).to(self.device)[None]
        crop = lambda x: to_uint8(x[..., :h, :w])  # noqa: E731
        res = {"bicubic": crop(up_lr)}
        if self.teacher is not None:
            x0 = x0_from_lr(up_lr, noise, self.sigma_p)
            for n in nfe:
                res[f"teacher_nfe{n}"] = crop(self.sampler(self.teacher, x0, up_lr, uniform_grid(n, self.device)))
        if self.graph is not None:
            k = len(ts)
            out = self.graph(lr.repeat(k, 1, 1, 1), noise.repeat(k, 1, 1, 1), torch.tensor(ts, device=self.device))
            for i, t in enumerate(ts):
                res[f"student_t{t:.2f}"] = crop(out[i : i + 1])
        return res

    def run_set(self, root: Path, log=print, jpeg_quality: int | None = None) -> dict:
        images = load_test_set(root)
        sums: dict[str, dict[str, list[float]]] = {}
        t0 = time.time()
        for name, hr in images:
            for method, out in self.outputs(hr, jpeg_quality=jpeg_quality).items():
                for k, v in self._metrics(out, hr).items():
                    sums.setdefault(method, {}).setdefault(k, []).append(v)
        table = {m: {k: float(np.mean(v)) for k, v in ks.items()} for m, ks in sums.items()}
        if self.niqe is not None:
            table["ground_truth"] = {"niqe": float(np.mean([self.niqe(hr) for _, hr in images if self.niqe.fits(hr)])),
                                     "sharpness": 1.0}
        log(f"{root.name}: {len(images)} images in {time.time() - t0:.1f}s")
        return {"images": len(images), "methods": table}


def with_teacher_rows(scored: dict, previous: dict | None) -> dict:
    """A set scored without the teacher, completed with the teacher rows of an earlier evaluation of it."""
    if previous is None or previous.get("images") != scored["images"]:
        raise ValueError("the earlier evaluation lacks this set or saw other images: sample the teacher again")
    rows = {m: v for m, v in previous["methods"].items() if m.startswith("teacher_")}
    return {**scored, "methods": {**scored["methods"], **rows}}


def curve_points(result: dict) -> tuple[list[tuple[float, float, str]], list[tuple[float, float, str]]]:
    """(sharpness, psnr_y, label) of the student over t and of the teacher over NFE, from one set's table."""
    methods = result["methods"]
    student = [(v["sharpness"], v["psnr_y"], k.split("_t")[1]) for k, v in methods.items() if k.startswith("student_t")]
    teacher = [(v["sharpness"], v["psnr_y"], k.split("nfe")[1]) for k, v in methods.items() if k.startswith("teacher")]
    return student, teacher


def is_monotone(values: list[float], decreasing: bool) -> bool:
    pairs = zip(values[:-1], values[1:])
    return all((b <= a) if decreasing else (b >= a) for a, b in pairs)


def finite(x: float) -> bool:
    return x is not None and not math.isnan(x) and not math.isinf(x)
