"""The backbone, chosen at equal CPU budget: train each candidate teacher of configs/backbones.json from scratch for
the same CPU time (this process's CPU seconds at one thread, so that other work on a shared machine does not favour
one candidate), then score its NFE-1 Y-PSNR on the tuning sets (Set5 + B100). Writes results/backbones.json, which
the model card renders.

  .venv/bin/python training/scripts/compare_backbones.py --data .gpu/data --cpu-minutes 8 [--only NAME ...]

With --only, results are merged into an existing results/backbones.json (candidates can run as parallel processes
that each write their own row).
"""

from __future__ import annotations

import argparse
import fcntl
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch

TRAINING = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(TRAINING))
from oftsr.data import PatchSampler, load_test_set  # noqa: E402
from oftsr.evaluate import Evaluator  # noqa: E402
from oftsr.export_onnx import measure_margin  # noqa: E402
from oftsr.metrics import psnr_y  # noqa: E402
from oftsr.networks import (  # noqa: E402
    FlowDenoiser,
    ModelConfig,
    OneStepStudent,
    StudentGraph,
    count_params,
    macs_per_output_pixel,
)
from oftsr.training_loop import StageOptions, Trainer, flow_loss_fn, save_checkpoint  # noqa: E402

TEST = TRAINING.parent.parent / "shared" / "datasets" / "test"
TUNING_SETS = ("Set5", "B100")


def candidate_cost(cfg: ModelConfig) -> dict:
    """MAC per output pixel, parameters and margin (the context each image gets under contract 2, LR px) of the
    student this backbone would ship as."""
    student = OneStepStudent(cfg.backbone, cfg.sigma_p)
    graph = StudentGraph(student)
    return {"macs_per_output_pixel": round(macs_per_output_pixel(graph, 32)), "params": count_params(student),
            "margin": measure_margin(graph)}


def teacher_psnr(teacher: FlowDenoiser, test_root: Path) -> dict:
    ev = Evaluator(teacher, None, torch.device("cpu"), None, alignment=max(4, teacher.backbone.alignment))
    scores = {}
    for name in TUNING_SETS:
        vals = [psnr_y(ev.outputs(hr, nfe=(1,), ts=())["teacher_nfe1"], hr) for _, hr in load_test_set(test_root / name)]
        scores[name] = round(float(np.mean(vals)), 3)
    return scores


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", required=True)
    ap.add_argument("--config", default=str(TRAINING / "configs" / "backbones.json"))
    ap.add_argument("--train-config", default=str(TRAINING / "configs" / "cpu.json"))
    ap.add_argument("--cpu-minutes", type=float, default=8.0)
    ap.add_argument("--max-steps", type=int, default=None, help="tests: stop after this many steps")
    ap.add_argument("--only", nargs="*", default=None)
    ap.add_argument("--test", default=str(TEST))
    ap.add_argument("--runs", default=str(TRAINING / "runs" / "backbones"))
    ap.add_argument("--out", default=str(TRAINING / "results" / "backbones.json"))
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    torch.set_num_threads(1)
    candidates = json.loads(Path(args.config).read_text())["candidates"]
    names = args.only or list(candidates)
    unknown = [n for n in names if n not in candidates]
    if unknown:
        raise SystemExit(f"unknown candidates {unknown}; known: {sorted(candidates)}")
    train_cfg = json.loads(Path(args.train_config).read_text())
    for name in names:
        row = train_and_score(name, candidates[name], train_cfg, args)
        merge_row(Path(args.out), name, row, args)
        print(json.dumps({"candidate": name, "result": row}), flush=True)


def train_and_score(name: str, backbone: dict, train_cfg: dict, args) -> dict:
    torch.manual_seed(args.seed)
    cfg = ModelConfig.from_dict({"backbone": backbone, "sigma_p": train_cfg["model"]["sigma_p"]})
    stage_cfg = train_cfg["teacher"]
    sampler = PatchSampler.from_folder(args.data, stage_cfg["patch"], torch.device("cpu"))
    teacher = FlowDenoiser(cfg.backbone, cfg.sigma_p)
    opt = StageOptions(minutes=args.cpu_minutes, batch=stage_cfg["batch"], lr=stage_cfg["lr"],
                       warmup=stage_cfg["warmup"], ema=stage_cfg["ema"], precision=stage_cfg.get("precision", "auto"),
                       threads=1, clock="cpu", max_steps=args.max_steps, log_every_s=60.0)

    def log(msg: str) -> None:
        print(json.dumps({"candidate": name, **json.loads(msg)}), flush=True)

    trainer = Trainer(teacher, flow_loss_fn(cfg.sigma_p, stage_cfg["weighting"]), sampler, opt, "cpu", log)
    stats = trainer.run()
    meta = {"rounds": [{k: v for k, v in stats.items() if k != "history"}], "steps": stats["steps"]}
    save_checkpoint(Path(args.runs) / name / "teacher.pt", trainer.ema, cfg, "teacher", meta)
    return {"backbone": cfg.backbone.to_dict(), **candidate_cost(cfg), "steps": stats["steps"],
            "patches": stats["patches"], "cpu_minutes": round(stats.get("cpu_seconds", 0.0) / 60, 2),
            "wall_minutes": round(stats["seconds"] / 60, 1), "teacher_nfe1_psnr_y": teacher_psnr(trainer.ema,
                                                                                                   Path(args.test)),
            "seed": args.seed, "date": time.strftime("%Y-%m-%d %H:%M:%S")}


def merge_row(path: Path, name: str, row: dict, args) -> None:
    """Add one candidate's row under a lock, so that parallel runs of single candidates do not lose each other's."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path.with_suffix(".lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        doc = json.loads(path.read_text()) if path.exists() else {}
        doc.setdefault("protocol", {})
        doc["protocol"] = {"budget": f"{args.cpu_minutes} CPU minutes per candidate, one thread, from scratch, "
                                     f"seed {args.seed}", "train_config": Path(args.train_config).name,
                           "score": "teacher NFE-1 Y-PSNR (dB), Set5 and B100"}
        doc.setdefault("candidates", {})[name] = row
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(doc, indent=1) + "\n")
        tmp.replace(path)
    path.with_suffix(".lock").unlink(missing_ok=True)


if __name__ == "__main__":
    main()
