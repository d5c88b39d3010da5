"""Evaluate the checkpoints on every test set, write training/results/<name>.json, the plot, and MODEL_CARD.md.

  python training/evaluate.py --checkpoints training/checkpoints            # full protocol, all sets
  python training/evaluate.py --card-only                                   # regenerate the card from results/

The card is generated, never hand-edited: it reads results/eval.json (and results/round.json from the last GPU
round, when present).
"""

from __future__ import annotations

import argparse
import copy
import json
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from oftsr.evaluate import Evaluator, with_teacher_rows  # noqa: E402
from oftsr.model_card import with_history, write_model_card  # noqa: E402
from oftsr.networks import StudentGraph, count_params, macs_per_output_pixel  # noqa: E402
from oftsr.training_loop import load_checkpoint  # noqa: E402

HERE = Path(__file__).resolve().parent
SHARED = HERE.parent.parent / "shared"
ALL_SETS = ("Set5", "Set14", "B100", "Kodak24", "Faces", "Kodak24-jpeg75")
# A set name "<set>-jpeg<q>" scores <set> with its LR through a JPEG at quality q: what a CDN photo gets. It is
# measured, never tuned on.
JPEG_SUFFIX = "-jpeg"


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--checkpoints", default=str(HERE / "checkpoints"))
    ap.add_argument("--test", default=str(SHARED / "datasets" / "test"))
    ap.add_argument("--sets", nargs="*", default=list(ALL_SETS))
    ap.add_argument("--niqe-params", default=str(SHARED / "metrics" / "niqe_pris_params.npz"))
    ap.add_argument("--out", default=str(HERE / "results" / "eval.json"))
    ap.add_argument("--device", default="auto")
    ap.add_argument("--threads", type=int, default=0)
    ap.add_argument("--card-only", action="store_true", help="only regenerate MODEL_CARD.md and the plot")
    ap.add_argument("--no-card", action="store_true")
    ap.add_argument("--reuse-teacher", action="store_true",
                    help="when the teacher is the one results/eval.json scored (same training record), copy its "
                         "teacher rows instead of sampling it again (deterministic: same noise, same grid)")
    args = ap.parse_args(argv)

    if not args.card_only:
        if args.threads:
            torch.set_num_threads(args.threads)
        device = torch.device("cuda" if args.device == "auto" and torch.cuda.is_available() else
                              ("cpu" if args.device == "auto" else args.device))
        ck = Path(args.checkpoints)
        teacher, _, teacher_meta = load_checkpoint(ck / "teacher.pt", device)
        student, model_cfg, student_meta = load_checkpoint(ck / "student.pt", device)
        niqe = args.niqe_params if Path(args.niqe_params).exists() else None
        if niqe is None:
            print(f"NIQE pristine parameters not found at {args.niqe_params}: NIQE is skipped")
        shipped = HERE / "results" / "eval.json"
        previous = json.loads(shipped.read_text()) if shipped.exists() else None
        reused = args.reuse_teacher and previous is not None and previous.get("teacher") == teacher_meta
        if args.reuse_teacher and not reused:
            print("--reuse-teacher: results/eval.json scored another teacher; sampling this one")
        ev = Evaluator(None if reused else teacher, student, device, niqe)
        t0 = time.time()
        sets = {}
        for name in args.sets:
            base, _, quality = name.partition(JPEG_SUFFIX)
            root = Path(args.test) / base
            if not root.exists():
                print(f"test set {root} not found: skipped")
                continue
            sets[name] = ev.run_set(root, jpeg_quality=int(quality) if quality else None)
            if reused:
                sets[name] = with_teacher_rows(sets[name], previous["sets"].get(name))
        result = {
            "date": time.strftime("%Y-%m-%d %H:%M:%S"), "device": str(device), "seconds": round(time.time() - t0, 1),
            "protocol": {"degradation": "bicubic x1/4, antialiased (PIL-compatible), 8-bit LR; for <set>-jpeg<q>, "
                                        "then a PIL JPEG at quality q (4:2:0)",
                         "y": "BT.601, 4-pixel border shaved", "rgb": "no crop", "noise_seed": 0,
                         "teacher_sampler": "euler, uniform grid"},
            "params": {"teacher": count_params(teacher), "student": count_params(student)},
            "macs_per_output_pixel": round(macs_per_output_pixel(StudentGraph(copy.deepcopy(student).cpu()))),
            "model": model_cfg.to_dict(),
            "teacher": teacher_meta, "student": student_meta, "sets": sets,
        }
        if reused:
            result["teacher_rows_from"] = f"results/eval.json of {previous['date']} (same teacher)"
        out = Path(args.out)
        # The history continues the shipped model's, whatever --out is, so a candidate's file can be adopted as is.
        if previous and previous.get("sets"):
            result = with_history(result, previous)
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(result, indent=1) + "\n")
        print(f"wrote {out}")
    if not args.no_card:
        write_model_card(HERE / "results", HERE / "MODEL_CARD.md")
        print(f"wrote {HERE / 'MODEL_CARD.md'}")


if __name__ == "__main__":
    main()
