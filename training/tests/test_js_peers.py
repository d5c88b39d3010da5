"""scripts/eval_js_peers.py without Node: the LR it hands the UpscalerJS models and the peers_js.json it writes, with
an echo upscaler (nearest-neighbour x4) standing in for scripts/js-peers/upscale.mjs (the real Node run takes
minutes per set and is not part of CI)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from conftest import SHARED, TRAINING
from oftsr.data import degrade, to_signed
from oftsr.evaluate import jpeg_roundtrip, to_uint8

sys.path.insert(0, str(TRAINING / "scripts"))
import eval_js_peers  # noqa: E402

NIQE_PARAMS = SHARED / "metrics" / "niqe_pris_params.npz"


def _image(h: int, w: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w]
    base = np.stack([xx * 255 / w, yy * 255 / h, (xx + yy) * 127 / (h + w)], axis=-1)
    return np.clip(base + rng.normal(0, 20, (h, w, 3)), 0, 255).astype(np.uint8)


def test_lr_is_the_protocols():
    hr = _image(64, 48)
    signed = degrade(to_signed(torch.from_numpy(hr.copy()).permute(2, 0, 1)[None]))
    lr = eval_js_peers.make_lr(hr)
    assert lr.dtype == np.uint8 and lr.shape == (16, 12, 3)
    np.testing.assert_array_equal(lr, to_uint8(signed))  # eval_peers.py's expression
    jpeg = eval_js_peers.make_lr(hr, 75)
    np.testing.assert_array_equal(jpeg, to_uint8(jpeg_roundtrip(signed, 75)))  # Evaluator.outputs(jpeg_quality=75)
    assert np.abs(jpeg.astype(int) - lr.astype(int)).max() > 0


def test_score_rejects_a_wrong_size_and_skips_niqe_below_96_px():
    hr = _image(64, 64)
    with pytest.raises(ValueError, match="does not match"):
        eval_js_peers.score([(hr[:60], hr)], None)
    m = eval_js_peers.score([(hr, hr)], lambda img: 1.0)
    assert set(m) == {"psnr_y", "ssim_y", "psnr_rgb", "sharpness"} and m["ssim_y"] == pytest.approx(1.0)


def test_skip_is_parsed_and_checked():
    assert eval_js_peers.parse_skip(["esrgan-thick:B100,Kodak24"]) == {"esrgan-thick": {"B100", "Kodak24"}}
    with pytest.raises(SystemExit):
        eval_js_peers.parse_skip(["esrgan-huge:B100"])


def _echo_upscaler(cmd: list[str], check: bool) -> None:
    """Stands in for `node upscale.mjs --peer P --out OUT ... DIR...`: nearest x4, and the run.json it writes."""
    opts = dict(zip(cmd[2::2], cmd[3::2]))
    dirs = [Path(a) for a in cmd if Path(a).is_dir()]
    for d in dirs:
        out = Path(opts["--out"]) / opts["--peer"] / d.name
        out.mkdir(parents=True, exist_ok=True)
        for f in d.glob("*.png"):
            lr = np.asarray(Image.open(f))
            Image.fromarray(lr.repeat(4, 0).repeat(4, 1)).save(out / f.name)
    run = {"backend": "wasm", "node": "v22", "patch": "whole image", "package": f"@upscalerjs/{opts['--peer']}@1.0.0",
           "weights": "model.json", "input_range": [0, 1], "output_range": [0, 1], "seconds": 0.1,
           "sets": {d.name: {"seconds": 0.1} for d in dirs}}
    (Path(opts["--out"]) / opts["--peer"] / "run.json").write_text(json.dumps(run))


def test_writes_peers_js_json_in_the_cards_format(tmp_path, monkeypatch):
    if not NIQE_PARAMS.exists():
        pytest.skip(f"NIQE pristine parameters not found at {NIQE_PARAMS} (../shared is optional)")
    for name, size in (("Kodak24", (288, 192)), ("Tiny", (64, 64))):
        (tmp_path / "test" / name).mkdir(parents=True)
        Image.fromarray(_image(*size)).save(tmp_path / "test" / name / "a.png")
    monkeypatch.setattr(eval_js_peers, "install", lambda: None)
    monkeypatch.setattr(eval_js_peers.subprocess, "run", _echo_upscaler)
    out = tmp_path / "peers_js.json"
    monkeypatch.setattr(sys, "argv", ["eval_js_peers.py", "--test", str(tmp_path / "test"), "--niqe", str(NIQE_PARAMS),
                                      "--out", str(out), "--skip", "esrgan-thick:Kodak24,Kodak24-jpeg75"])
    eval_js_peers.main()
    res = json.loads(out.read_text())
    assert list(res["sets"]) == ["Kodak24", "Tiny", "Kodak24-jpeg75"]
    assert list(res["sets"]["Tiny"]) == list(eval_js_peers.PEERS)
    assert list(res["sets"]["Kodak24"]) == ["esrgan-slim", "esrgan-medium"]
    assert res["skipped"] == {"esrgan-thick": ["Kodak24", "Kodak24-jpeg75"]}
    assert set(res["sets"]["Kodak24"]["esrgan-slim"]) == {"psnr_y", "ssim_y", "psnr_rgb", "sharpness", "niqe"}
    assert "niqe" not in res["sets"]["Tiny"]["esrgan-slim"]  # 64 px < 96
    # the JPEG'd LR is scored against the same HR, and costs PSNR against the clean one
    assert res["sets"]["Kodak24-jpeg75"]["esrgan-slim"]["psnr_y"] < res["sets"]["Kodak24"]["esrgan-slim"]["psnr_y"]
    assert res["packages"]["@upscalerjs/esrgan-thick"] == "1.0.0"
