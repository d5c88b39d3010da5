"""The evaluation protocol on known inputs: networks whose residual is zero must score exactly as bicubic (teacher
at every NFE, student at every t), a constant image is reproduced exactly (PSNR inf), and a set folder is averaged
over its images. A wrong degradation, noise, crop or averaging shows up as a number off here."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from PIL import Image

from _util import TINY
from oftsr.data import degrade, to_signed
from oftsr.evaluate import Evaluator, to_uint8
from oftsr.metrics import psnr_y
from oftsr.networks import BicubicUp, FlowDenoiser, OneStepStudent


def _zero_residual_models():
    # The backbone's tail is zero-initialised: x1_hat = up(LR) exactly, whatever x_t, t or the noise.
    return FlowDenoiser(TINY, 0.1).eval(), OneStepStudent(TINY, 0.1).eval()


def _gradient_image(h: int, w: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w]
    img = np.stack([127 + 100 * np.sin(0.05 * (c + 1) * xx + 0.03 * yy) for c in range(3)], axis=-1)
    return np.clip(img + rng.normal(0, 3, img.shape), 0, 255).astype(np.uint8)


def test_zero_residual_models_score_as_bicubic(tmp_path):
    for i, (h, w) in enumerate([(64, 96), (72, 72)]):  # 72 px: an LR of 18, padded to the alignment and cropped
        Image.fromarray(_gradient_image(h, w, i)).save(tmp_path / f"{i}.png")
    teacher, student = _zero_residual_models()
    ev = Evaluator(teacher, student, torch.device("cpu"), None, alignment=2)
    result = ev.run_set(tmp_path, log=lambda m: None)
    methods = result["methods"]
    assert result["images"] == 2
    bic = methods["bicubic"]
    for name in ("teacher_nfe1", "teacher_nfe4", "student_t0.00", "student_t1.00"):
        for k in ("psnr_y", "psnr_rgb", "ssim_y", "sharpness"):
            assert methods[name][k] == bic[k], (name, k)

    # bicubic's figure is the mean over the images of PSNR-Y(up(degrade(HR)), HR), computed here independently.
    want = []
    for i in range(2):
        hr = np.asarray(Image.open(tmp_path / f"{i}.png"))
        x = to_signed(torch.from_numpy(hr.copy()).permute(2, 0, 1)[None])
        lr = degrade(x)
        pad = (-lr.shape[-1]) % 2, (-lr.shape[-2]) % 2
        lr = torch.nn.functional.pad(lr, (0, pad[0], 0, pad[1]), mode="replicate")
        up = to_uint8(BicubicUp()(lr)[..., : hr.shape[0], : hr.shape[1]])
        want.append(psnr_y(up, hr))
    assert math.isclose(bic["psnr_y"], float(np.mean(want)), rel_tol=1e-12)
    assert 20 < bic["psnr_y"] < 45


def test_a_constant_image_is_reproduced_exactly(tmp_path):
    Image.fromarray(np.full((64, 64, 3), 91, np.uint8)).save(tmp_path / "flat.png")
    teacher, student = _zero_residual_models()
    ev = Evaluator(teacher, student, torch.device("cpu"), None, alignment=2)
    outs = ev.outputs(np.asarray(Image.open(tmp_path / "flat.png")), nfe=(1,), ts=(0.0, 1.0))
    for name, out in outs.items():
        assert (out == 91).all(), name
        assert psnr_y(out, out) == float("inf")


def test_pad_to_adds_the_margin_of_context_then_aligns():
    """Contract 2, as packages/shared frameSize: margin 53 at alignment 4 is 56 px of replicated context."""
    from oftsr.evaluate import pad_to

    x = torch.arange(35.0).reshape(1, 1, 5, 7)
    y = pad_to(x, 4, 53)
    assert tuple(y.shape[-2:]) == (64, 64)  # 5 + 56 = 61 → 64; 7 + 56 = 63 → 64
    assert torch.equal(y[..., :5, :7], x)
    assert torch.equal(y[..., 63, 63], x[..., 4, 6])
    assert tuple(pad_to(x, 4).shape[-2:]) == (8, 8)


def test_teacher_rows_of_an_earlier_evaluation_complete_a_student_only_one():
    from oftsr.evaluate import with_teacher_rows

    scored = {"images": 2, "methods": {"bicubic": {"psnr_y": 25.0}, "student_t0.00": {"psnr_y": 27.0}}}
    earlier = {"images": 2, "methods": {"bicubic": {"psnr_y": 25.0}, "student_t0.00": {"psnr_y": 26.0},
                                        "teacher_nfe1": {"psnr_y": 26.5}, "teacher_nfe8": {"psnr_y": 25.5}}}
    merged = with_teacher_rows(scored, earlier)
    assert merged["methods"]["student_t0.00"] == {"psnr_y": 27.0}  # the new student's, not the earlier one's
    assert merged["methods"]["teacher_nfe8"] == {"psnr_y": 25.5}
    with pytest.raises(ValueError, match="other images"):
        with_teacher_rows(scored, {**earlier, "images": 3})
    with pytest.raises(ValueError, match="lacks this set"):
        with_teacher_rows(scored, None)
