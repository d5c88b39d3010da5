"""gpu_round.sh's failure paths, on the CPU with tiny settings: a round whose own evaluation times out or whose
training fails must exit non-zero and never print "round done" (a lent GPU is gone before anyone notices)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image
from conftest import TRAINING

needs_bash = pytest.mark.skipif(shutil.which("bash") is None, reason="bash is not installed")


@pytest.fixture(scope="module")
def round_root(tmp_path_factory):
    """A repository-shaped folder: training/ (the real one, so the committed checkpoints resume) and a tiny .gpu/."""
    root = tmp_path_factory.mktemp("round")
    (root / "training").symlink_to(TRAINING)
    rng = np.random.default_rng(0)
    for sub, n in (("data", 2), ("test/Set5", 1)):
        (root / ".gpu" / sub).mkdir(parents=True)
        for i in range(n):
            Image.fromarray(rng.integers(0, 256, (96, 96, 3), dtype=np.uint8)).save(root / ".gpu" / sub / f"{i}.png")
    return root


def _round(root, out, env_extra, *extra):
    env = {**os.environ, "PYTHON": sys.executable, **env_extra}
    args = ["bash", str(TRAINING / "gpu_round.sh"), str(out), "0.02", "0.02", "--batch", "2", "--patch", "64",
            "--max-steps", "2", "--device", "cpu", "--threads", "1", *extra]
    return subprocess.run(args, cwd=root, env=env, capture_output=True, text=True, timeout=300)


@needs_bash
def test_evaluation_timeout_fails_the_round(round_root, tmp_path):
    proc = _round(round_root, tmp_path / "out", {"EVAL_TIMEOUT": "1"})
    assert proc.returncode == 124, proc.stdout[-2000:] + proc.stderr[-2000:]
    assert "evaluation timed out" in proc.stdout
    assert "round done" not in proc.stdout
    assert (tmp_path / "out" / "teacher.pt").exists()  # the trained checkpoints are kept
    assert not (tmp_path / "out" / "round.json").exists()


@needs_bash
def test_training_failure_fails_the_round(round_root, tmp_path):
    proc = _round(round_root, tmp_path / "out", {}, "--data", str(tmp_path / "missing"))
    assert proc.returncode != 0
    assert "training failed" in proc.stdout and "round done" not in proc.stdout
