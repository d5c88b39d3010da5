"""training/train.py end to end on a tiny synthetic data set: both stages, fp16 checkpoints, resume."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys

import numpy as np
import pytest
import torch
from PIL import Image
from conftest import TRAINING

from oftsr.networks import FlowDenoiser, OneStepStudent
from oftsr.training_loop import load_checkpoint

TINY_CONFIG = {
    "model": {"sigma_p": 0.1, "backbone": {"channels": [8, 16], "blocks": [1, 1], "emb_dim": 16}},
    "teacher": {"batch": 64, "patch": 192, "lr": 1e-3, "warmup": 2, "ema": 0.9, "weighting": "x1"},
    "student": {"batch": 64, "patch": 192, "lr": 1e-3, "warmup": 2, "ema": 0.9, "dt": 0.05, "lambda_align": 0.01,
                "lambda_bc": 0.1, "restart_from_teacher": False},
}


def _load_train_module():
    spec = importlib.util.spec_from_file_location("oftsr_train_cli", TRAINING / "train.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


@pytest.fixture(scope="module")
def workspace(tmp_path_factory):
    root = tmp_path_factory.mktemp("train")
    data = root / "data"
    data.mkdir()
    rng = np.random.default_rng(0)
    for i, (h, w) in enumerate([(96, 80), (80, 112), (100, 100)]):
        yy, xx = np.mgrid[0:h, 0:w]
        img = np.stack([128 + 80 * np.sin(0.2 * xx + 0.1 * yy * (c + 1) + i) for c in range(3)], axis=-1)
        img = np.clip(img + rng.normal(0, 8, img.shape), 0, 255).astype(np.uint8)
        Image.fromarray(img).save(data / f"img{i}.png")
    (root / "tiny.json").write_text(json.dumps(TINY_CONFIG))
    return root


def _args(ws, out, *extra):
    return ["--data", str(ws / "data"), "--out", str(out), "--config", str(ws / "tiny.json"), "--batch", "2",
            "--patch", "64", "--max-steps", "3", "--stage", "both", "--device", "cpu", "--threads", "1", *extra]


def _check_checkpoint(path, cls, steps):
    raw = torch.load(path, map_location="cpu", weights_only=True)
    floats = [v for v in raw["state"].values() if v.is_floating_point()]
    assert floats and all(v.dtype == torch.float16 for v in floats)
    net, cfg, meta = load_checkpoint(path)
    assert isinstance(net, cls)
    assert cfg.backbone.channels == (8, 16) and cfg.sigma_p == 0.1
    assert all(p.dtype == torch.float32 for p in net.parameters())
    assert meta["steps"] == steps
    assert [r["steps"] for r in meta["rounds"]] == [3] * (steps // 3)
    assert meta["patches"] == 2 * steps
    return net, meta


def test_train_both_stages_then_resume(workspace):
    first, second = workspace / "run1", workspace / "run2"
    # First run through the real command line, in a subprocess.
    proc = subprocess.run([sys.executable, str(TRAINING / "train.py"), *_args(workspace, first)],
                          capture_output=True, text=True, timeout=150)
    assert proc.returncode == 0, proc.stderr[-3000:]
    for name in ("config.json", "teacher.pt", "student.pt", "train_log.jsonl"):
        assert (first / name).exists(), name
    config = json.loads((first / "config.json").read_text())
    assert config["teacher"]["batch"] == 2 and config["student"]["patch"] == 64  # the overrides were applied
    events = [json.loads(line).get("event") for line in (first / "train_log.jsonl").read_text().splitlines()]
    assert events.count("saved") == 2 and "init" in events
    teacher1, _ = _check_checkpoint(first / "teacher.pt", FlowDenoiser, 3)
    student1, smeta1 = _check_checkpoint(first / "student.pt", OneStepStudent, 3)
    assert smeta1["teacher_steps"] == 3

    # Second run resumes from the first (in-process, through main(argv)).
    _load_train_module().main(_args(workspace, second, "--resume", str(first)))
    teacher2, _ = _check_checkpoint(second / "teacher.pt", FlowDenoiser, 6)
    student2, smeta2 = _check_checkpoint(second / "student.pt", OneStepStudent, 6)
    assert smeta2["teacher_steps"] == 6
    events = [json.loads(line) for line in (second / "train_log.jsonl").read_text().splitlines()]
    resumed = {e["stage"]: e["steps"] for e in events if e.get("event") == "resume"}
    assert resumed == {"teacher": 3, "student": 3}
    # Training went on from the checkpoint: the weights moved.
    sd1, sd2 = teacher1.state_dict(), teacher2.state_dict()
    assert any(not torch.equal(sd1[k], sd2[k]) for k in sd1)
    torch.set_num_threads(1)


def test_student_stage_needs_a_teacher(workspace):
    mod = _load_train_module()
    args = _args(workspace, workspace / "run3")
    args[args.index("both")] = "student"
    with pytest.raises(SystemExit):
        mod.main(args)
