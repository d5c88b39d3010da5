"""scripts/record_probe.py: a probe's quick_eval scores land in results/spectrum_probes.json with the run's steps,
and a score file without the tuning sets is refused."""

from __future__ import annotations

import json
import subprocess
import sys

from _util import TINY, tiny_student
from conftest import TRAINING

from oftsr.networks import ModelConfig
from oftsr.training_loop import save_checkpoint

SCRIPT = TRAINING / "scripts" / "record_probe.py"


def _run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(SCRIPT), *args], capture_output=True, text=True, timeout=120)


def test_record_probe_appends_the_scores_and_the_steps(tmp_path):
    run = tmp_path / "run"
    meta = {"steps": 5234, "rounds": [{"steps": 4000}, {"steps": 1234}]}  # the probe: the last round
    save_checkpoint(run / "student.pt", tiny_student(), ModelConfig(backbone=TINY), "student", meta)
    grid = {"checkpoints": str(run), "Set5": {"student_t0.00 psnr_y": 30.3, "student_t1.00 sharpness": 1.0},
            "B100": {"student_t0.75 psnr_y": 25.0}}
    niqe = {"checkpoints": str(run), "Set5": {"student_t1.00 niqe": 4.1}, "B100": {"student_t1.00 niqe": 3.9}}
    (tmp_path / "grid.json").write_text(json.dumps(grid) + "\n")
    (tmp_path / "niqe.json").write_text(json.dumps(niqe) + "\n")
    probes = tmp_path / "probes.json"
    probes.write_text(json.dumps({"what": "probes", "probes": [{"setting": "old"}]}))
    proc = _run(str(run), str(tmp_path / "grid.json"), str(tmp_path / "niqe.json"), "--setting", "rings 8",
                "--out", str(probes))
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(probes.read_text())
    assert [p["setting"] for p in doc["probes"]] == ["old", "rings 8"]
    row = doc["probes"][1]
    assert row["steps"] == 1234
    assert row["Set5"] == {"student_t0.00 psnr_y": 30.3, "student_t1.00 sharpness": 1.0, "student_t1.00 niqe": 4.1}
    assert row["B100"] == {"student_t0.75 psnr_y": 25.0, "student_t1.00 niqe": 3.9}


def test_record_probe_refuses_scores_without_the_tuning_sets(tmp_path):
    run = tmp_path / "run"
    save_checkpoint(run / "student.pt", tiny_student(), ModelConfig(backbone=TINY), "student", {"steps": 1})
    (tmp_path / "q.json").write_text(json.dumps({"checkpoints": str(run), "Set5": {"student_t0.00 psnr_y": 30.0}}))
    probes = tmp_path / "probes.json"
    probes.write_text(json.dumps({"what": "probes", "probes": []}))
    proc = _run(str(run), str(tmp_path / "q.json"), "--setting", "x", "--out", str(probes))
    assert proc.returncode != 0 and "Set5 and B100" in proc.stderr
    assert json.loads(probes.read_text())["probes"] == []
