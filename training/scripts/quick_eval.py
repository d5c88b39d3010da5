"""Quick selection check on the tuning sets only (Set5 + B100: never select on the other test sets): Y-PSNR of the
teacher at a few NFE and of the student at a few t, for one or more checkpoint folders, as one JSON line each.

  .venv/bin/python training/scripts/quick_eval.py training/checkpoints /tmp/ab/bf16 [--nfe 1] [--t 0 1]

A folder without student.pt is scored as a teacher only; `--no-teacher` skips the teacher. `--niqe` adds the
student's NIQE (images of at least 96 px, as in the card) and the ground truth's, to tell detail from grain.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import torch

TRAINING = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(TRAINING))
from oftsr.data import load_test_set  # noqa: E402
from oftsr.evaluate import Evaluator  # noqa: E402
from oftsr.metrics import NIQE, psnr_y, sharpness_ratio  # noqa: E402
from oftsr.training_loop import load_checkpoint  # noqa: E402

SHARED = TRAINING.parent.parent / "shared"
TEST = SHARED / "datasets" / "test"
NIQE_PARAMS = SHARED / "metrics" / "niqe_pris_params.npz"


def score(folder: Path, sets: list[str], nfe: tuple[int, ...], ts: tuple[float, ...], teacher_too: bool,
          niqe: NIQE | None = None) -> dict:
    teacher = load_checkpoint(folder / "teacher.pt")[0] if teacher_too and (folder / "teacher.pt").exists() else None
    student = load_checkpoint(folder / "student.pt")[0] if ts and (folder / "student.pt").exists() else None
    ev = Evaluator(teacher, student, torch.device("cpu"), None)
    row: dict = {"checkpoints": str(folder)}
    for name in sets:
        acc: dict[str, list[float]] = {}
        for _, hr in load_test_set(TEST / name):
            for method, out in ev.outputs(hr, nfe=nfe if teacher else (), ts=ts if student else ()).items():
                acc.setdefault(f"{method} psnr_y", []).append(psnr_y(out, hr))
                if method.startswith("student"):
                    acc.setdefault(f"{method} sharpness", []).append(sharpness_ratio(out, hr))
                    if niqe is not None and niqe.fits(out):
                        acc.setdefault(f"{method} niqe", []).append(niqe(out))
            if niqe is not None and niqe.fits(hr):
                acc.setdefault("ground_truth niqe", []).append(niqe(hr))
        row[name] = {k: round(float(np.mean(v)), 3) for k, v in acc.items() if not k.startswith("bicubic")}
    return row


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("folders", nargs="+")
    ap.add_argument("--sets", nargs="*", default=["Set5", "B100"])
    ap.add_argument("--nfe", type=int, nargs="*", default=[1])
    ap.add_argument("--t", type=float, nargs="*", default=[0.0])
    ap.add_argument("--no-teacher", action="store_true")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--niqe", action="store_true", help="also the student's NIQE and the ground truth's")
    args = ap.parse_args()
    bad = [s for s in args.sets if s not in ("Set5", "B100")]
    if bad:
        raise SystemExit(f"quick_eval selects on Set5 and B100 only, not {bad}: the other sets are for the card")
    torch.set_num_threads(args.threads)
    niqe = NIQE(NIQE_PARAMS) if args.niqe else None
    for folder in args.folders:
        print(json.dumps(score(Path(folder), args.sets, tuple(args.nfe), tuple(args.t), not args.no_teacher, niqe)),
              flush=True)


if __name__ == "__main__":
    main()
