"""Export the student checkpoint as the shipped ONNX model, check parity with PyTorch, write manifest + reference.

  python training/export.py --checkpoint training/checkpoints/student.pt --out models
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from oftsr.export_onnx import export_student, onnx_parity  # noqa: E402
from oftsr.training_loop import load_checkpoint  # noqa: E402

HERE = Path(__file__).resolve().parent
PARITY_TOLERANCE = 1e-3


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--checkpoint", default=str(HERE / "checkpoints" / "student.pt"))
    ap.add_argument("--out", default=str(HERE.parent / "models"))
    ap.add_argument("--name", default="oftsr-student-x4")
    ap.add_argument("--tile", type=int, default=256, help="recommended LR tile (a multiple of the alignment)")
    ap.add_argument("--untrained", action="store_true", help="mark the model as untrained in its metadata")
    args = ap.parse_args(argv)

    student, _, meta = load_checkpoint(Path(args.checkpoint))
    summary = {"teacher_steps": meta.get("teacher_steps", 0), "student_steps": meta.get("steps", 0),
               "student_patches": meta.get("patches", 0),
               "devices": sorted({r["device"] for r in meta.get("rounds", [])})}
    manifest = export_student(student, Path(args.out), args.name, trained=not args.untrained, tile=args.tile,
                              training_meta=summary)
    err = onnx_parity(Path(args.out) / manifest["file"], student)
    print(f"exported {manifest['file']} ({manifest['bytes']:,} bytes, version {manifest['version']}, "
          f"margin {manifest['margin']}, alignment {manifest['alignment']}); parity max |ort - torch| = {err:.2e}")
    if err > PARITY_TOLERANCE:
        raise SystemExit(f"parity {err:.2e} exceeds {PARITY_TOLERANCE:g}")


if __name__ == "__main__":
    main()
