"""Train the OFTSR teacher and/or distil the one-step student to a wall-clock budget, resuming from checkpoints.

  python training/train.py --stage both --teacher-minutes 4 --student-minutes 3 \
      --data .gpu/data --resume training/checkpoints --out training/runs/round-1

Writes <out>/config.json (the resolved configuration), <out>/teacher.pt and/or <out>/student.pt (fp16 EMA weights
plus cumulative training metadata), the training state beside each (<stage>.state.pt: raw weights and optimiser, so
that the next --resume goes on without a warm-up) and <out>/train_log.jsonl. SIGTERM or Ctrl-C ends the running
stage early and saves it, as at the end of its budget; later stages are skipped.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from oftsr.data import PatchSampler  # noqa: E402
from oftsr.networks import FlowDenoiser, ModelConfig, OneStepStudent, count_params  # noqa: E402
from oftsr.training_loop import (  # noqa: E402
    StageOptions,
    StopRequest,
    Trainer,
    distill_loss_fn,
    flow_loss_fn,
    load_checkpoint,
    save_checkpoint,
    state_path,
)

DEFAULT_CONFIG = Path(__file__).resolve().parent / "configs" / "default.json"


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


def _round_meta(prev: dict, stats: dict, stage_cfg: dict, device: torch.device) -> dict:
    rounds = list(prev.get("rounds", []))
    rounds.append({"date": time.strftime("%Y-%m-%d %H:%M:%S"), "device": torch.cuda.get_device_name(device)
                   if device.type == "cuda" else "cpu", **{k: v for k, v in stats.items() if k != "history"},
                   "config": stage_cfg})
    return {"rounds": rounds, "steps": sum(r["steps"] for r in rounds), "patches": sum(r["patches"] for r in rounds),
            "seconds": round(sum(r["seconds"] for r in rounds), 1)}


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--stage", choices=["teacher", "student", "both"], default="both")
    ap.add_argument("--config", default=str(DEFAULT_CONFIG))
    ap.add_argument("--data", required=True, help="folder of HR training images")
    ap.add_argument("--resume", default=None, help="folder holding teacher.pt / student.pt to start from")
    ap.add_argument("--out", required=True)
    ap.add_argument("--teacher-minutes", type=float, default=4.0)
    ap.add_argument("--student-minutes", type=float, default=3.0)
    ap.add_argument("--device", default="auto")
    ap.add_argument("--batch", type=int, default=None, help="override both stages' batch (CPU smoke tests)")
    ap.add_argument("--patch", type=int, default=None, help="override the HR patch size")
    ap.add_argument("--max-steps", type=int, default=None, help="stop each stage after this many steps")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--snapshot-minutes", type=float, default=None,
                    help="also save <out>/<stage>-snapshot.pt this often (to watch long CPU runs)")
    ap.add_argument("--threads", default="0",
                    help="CPU threads for torch: 0 torch's default, N, or auto (tuned while training: one thread "
                         "when another process takes a core)")
    args = ap.parse_args(argv)

    torch.manual_seed(args.seed)
    threads: str | int = args.threads if args.threads == "auto" else int(args.threads)
    StopRequest.install()
    device = resolve_device(args.device)
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
    cfg = json.loads(Path(args.config).read_text())
    for stage in ("teacher", "student"):
        if args.batch:
            cfg[stage]["batch"] = args.batch
        if args.patch:
            cfg[stage]["patch"] = args.patch
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "config.json").write_text(json.dumps({**cfg, "args": vars(args)}, indent=2))
    log_file = (out / "train_log.jsonl").open("a")

    def log(msg: str) -> None:
        print(msg, flush=True)
        log_file.write(msg + "\n")
        log_file.flush()

    snapshot_s = args.snapshot_minutes * 60 if args.snapshot_minutes else None

    def snapshotter(stage: str, prev_meta: dict, stage_cfg: dict):
        def save(trainer, steps, patches, seconds):
            meta = _round_meta(prev_meta, {"steps": steps, "patches": patches, "seconds": round(seconds, 1),
                                           "patches_per_s": round(patches / max(seconds, 1e-9), 1)}, stage_cfg, device)
            path = out / f"{stage}-snapshot.pt"
            save_checkpoint(path, trainer.ema, model_cfg, stage, meta)
            trainer.save_state(state_path(path), meta["steps"])
        return save

    def stage_options(stage_cfg: dict, minutes: float) -> StageOptions:
        return StageOptions(minutes=minutes, batch=stage_cfg["batch"], lr=stage_cfg["lr"], warmup=stage_cfg["warmup"],
                            ema=stage_cfg["ema"], max_steps=args.max_steps, snapshot_every_s=snapshot_s,
                            precision=stage_cfg.get("precision", "auto"), threads=threads)

    def restore(trainer: Trainer, stage: str, meta: dict) -> None:
        if resume and trainer.restore(state_path(resume / f"{stage}.pt"), meta.get("steps", 0)):
            log(json.dumps({"event": "restore", "stage": stage, "steps": meta.get("steps", 0),
                            "what": "raw weights and optimiser; no warm-up"}))

    resume = Path(args.resume) if args.resume else None
    model_cfg = ModelConfig.from_dict(cfg["model"])
    patch = cfg["teacher"]["patch"]
    t0 = time.time()
    sampler = PatchSampler.from_folder(args.data, patch, device)
    log(json.dumps({"event": "data", "images": sampler.num_images, "megapixels": round(sampler.pixels / 1e6, 1),
                    "load_s": round(time.time() - t0, 1), "device": str(device)}))

    teacher, teacher_meta = None, {}
    if resume and (resume / "teacher.pt").exists():
        teacher, model_cfg, teacher_meta = load_checkpoint(resume / "teacher.pt", device)
        log(json.dumps({"event": "resume", "stage": "teacher", "steps": teacher_meta.get("steps", 0)}))

    if args.stage in ("teacher", "both"):
        if teacher is None:
            teacher = FlowDenoiser(model_cfg.backbone, model_cfg.sigma_p).to(device)
        tc = cfg["teacher"]
        log(json.dumps({"event": "start", "stage": "teacher", "params": count_params(teacher), **tc}))
        trainer = Trainer(teacher, flow_loss_fn(model_cfg.sigma_p, tc["weighting"]), sampler,
                          stage_options(tc, args.teacher_minutes), device, log,
                          on_snapshot=snapshotter("teacher", teacher_meta, tc))
        restore(trainer, "teacher", teacher_meta)
        stats = trainer.run()
        teacher = trainer.ema
        teacher_meta = _round_meta(teacher_meta, stats, tc, device)
        save_checkpoint(out / "teacher.pt", teacher, model_cfg, "teacher", teacher_meta)
        trainer.save_state(state_path(out / "teacher.pt"), teacher_meta["steps"])
        log(json.dumps({"event": "saved", "stage": "teacher", **{k: v for k, v in stats.items() if k != "history"}}))

    if args.stage in ("student", "both") and StopRequest.requested:
        log(json.dumps({"event": "stopped", "skipped": "student"}))
    elif args.stage in ("student", "both"):
        if teacher is None:
            raise SystemExit("the student needs a teacher: pass --resume with teacher.pt, or --stage both")
        teacher = teacher.to(device).eval().requires_grad_(False)
        if device.type == "cuda":
            teacher = teacher.to(memory_format=torch.channels_last)
        student_meta: dict = {}
        if resume and (resume / "student.pt").exists() and not cfg["student"].get("restart_from_teacher", False):
            student, _, student_meta = load_checkpoint(resume / "student.pt", device)
            log(json.dumps({"event": "resume", "stage": "student", "steps": student_meta.get("steps", 0)}))
        else:
            student = OneStepStudent.from_teacher(teacher).to(device)
            log(json.dumps({"event": "init", "stage": "student", "from": "teacher EMA"}))
        sc = cfg["student"]
        log(json.dumps({"event": "start", "stage": "student", "params": count_params(student), **sc}))
        loss = distill_loss_fn(teacher, model_cfg.sigma_p, dt=sc["dt"], lambda_align=sc["lambda_align"],
                               lambda_bc=sc["lambda_bc"], lambda_gt=sc.get("lambda_gt", 0.0),
                               **{k: v for k, v in sc.items() if k.startswith(("lambda_spectrum", "spectrum_"))})
        trainer = Trainer(student, loss, sampler, stage_options(sc, args.student_minutes), device, log,
                          on_snapshot=snapshotter("student", student_meta, sc))
        if student_meta:
            restore(trainer, "student", student_meta)
        stats = trainer.run()
        student_meta = _round_meta(student_meta, stats, sc, device)
        student_meta["teacher_steps"] = teacher_meta.get("steps", 0)
        save_checkpoint(out / "student.pt", trainer.ema, model_cfg, "student", student_meta)
        trainer.save_state(state_path(out / "student.pt"), student_meta["steps"])
        log(json.dumps({"event": "saved", "stage": "student", **{k: v for k, v in stats.items() if k != "history"}}))
    log_file.close()


if __name__ == "__main__":
    main()
