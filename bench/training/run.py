"""CPU training throughput: patches per second of one optimiser step for the teacher and the student stage.

Every case is timed in turn, round after round (the machine is noisy: a round-robin spreads the noise over all
cases alike), on synthetic HR patches so that data loading is not measured. Cases: fp32 vs bf16 autocast,
contiguous vs channels_last, thread counts, batch/patch shapes, and torch.compile (optional: it compiles for minutes
on 2 cores). Writes bench/training/results.json and RESULTS.md.

  .venv/bin/python bench/training/run.py [--rounds 3] [--seconds 4] [--compile]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from contextlib import nullcontext
from dataclasses import dataclass
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "training"))
from oftsr.data import degrade  # noqa: E402
from oftsr.loss import DistillLoss, FlowLoss  # noqa: E402
from oftsr.networks import BicubicUp, FlowDenoiser, ModelConfig, OneStepStudent  # noqa: E402


@dataclass(frozen=True)
class Case:
    stage: str
    precision: str  # fp32 | bf16
    layout: str = "contiguous"  # contiguous | channels_last
    threads: int = 2
    batch: int = 8
    patch: int = 128
    compiled: bool = False

    @property
    def name(self) -> str:
        parts = [self.stage, self.precision, self.layout, f"{self.threads}t", f"{self.batch}x{self.patch}"]
        return " ".join(parts + (["compile"] if self.compiled else []))


def cases(with_compile: bool) -> list[Case]:
    """One thread per case by default: on a shared 2-core machine a two-thread step waits at every barrier for a
    core that another process holds, which swamps every other difference (the 2-thread rows show by how much)."""
    out = [Case("teacher", p, layout, threads=1) for p in ("fp32", "bf16") for layout in ("contiguous", "channels_last")]
    out += [Case("teacher", "bf16", threads=1, batch=16, patch=96), Case("teacher", "bf16", threads=1, batch=4, patch=192),
            Case("teacher", "bf16", threads=1, batch=16, patch=128)]
    out += [Case("student", p, threads=1) for p in ("fp32", "bf16")]
    out += [Case("teacher", p, threads=2) for p in ("fp32", "bf16")]
    if with_compile:
        out += [Case("teacher", "bf16", threads=1, compiled=True)]
    return out


class Runner:
    """One case's network, optimiser and fixed batch; `step()` is one training step."""

    def __init__(self, case: Case, model_cfg: ModelConfig):
        self.case = case
        torch.manual_seed(0)
        teacher = FlowDenoiser(model_cfg.backbone, model_cfg.sigma_p)
        cl = case.layout == "channels_last"
        fmt = torch.channels_last if cl else torch.contiguous_format
        hr = torch.rand(case.batch, 3, case.patch, case.patch) * 2 - 1
        up_lr = BicubicUp()(degrade(hr))
        self.hr, self.up_lr = hr.contiguous(memory_format=fmt), up_lr.contiguous(memory_format=fmt)
        if case.stage == "teacher":
            self.net = teacher.to(memory_format=fmt)
            loss = FlowLoss(model_cfg.sigma_p)
            self.loss = lambda: loss(self.net, self.up_lr, self.hr)
        else:
            self.net = OneStepStudent.from_teacher(teacher).to(memory_format=fmt)
            frozen = teacher.eval().requires_grad_(False).to(memory_format=fmt)
            loss = DistillLoss(model_cfg.sigma_p)
            self.loss = lambda: loss(self.net, frozen, self.up_lr, self.hr)[0]
        if case.compiled:
            self.net = torch.compile(self.net)
        self.optim = torch.optim.Adam([p for p in self.net.parameters() if p.requires_grad], lr=1e-4)

    def autocast(self):
        return torch.autocast("cpu", dtype=torch.bfloat16) if self.case.precision == "bf16" else nullcontext()

    def step(self) -> None:
        torch.set_num_threads(self.case.threads)
        with self.autocast():
            loss = self.loss().mean()
        self.optim.zero_grad(set_to_none=True)
        loss.backward()
        self.optim.step()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--seconds", type=float, default=4.0, help="per case and round")
    ap.add_argument("--compile", action="store_true", help="also time torch.compile (slow to compile)")
    ap.add_argument("--config", default=str(ROOT / "training" / "configs" / "cpu.json"))
    ap.add_argument("--out", default=str(Path(__file__).resolve().parent))
    args = ap.parse_args()

    model_cfg = ModelConfig.from_dict(json.loads(Path(args.config).read_text())["model"])
    runners = []
    for case in cases(args.compile):
        r = Runner(case, model_cfg)
        t = time.time()
        r.step()
        r.step()  # warm-up: oneDNN primitive caches, compilation
        print(f"{case.name}: warm-up {time.time() - t:.1f} s", flush=True)
        runners.append((r, time.time() - t))
    rates: dict[str, list[float]] = {r.case.name: [] for r, _ in runners}
    for rnd in range(args.rounds):
        for r, _ in runners:
            start, n = time.time(), 0
            while time.time() - start < args.seconds:
                r.step()
                n += 1
            rates[r.case.name].append(n * r.case.batch / (time.time() - start))
        print(f"round {rnd + 1}/{args.rounds}: " + ", ".join(f"{k} {v[-1]:.1f}" for k, v in rates.items()), flush=True)

    baseline = {s: statistics.median(rates[Case(s, "fp32", threads=1).name]) for s in ("teacher", "student")}
    rows = []
    for r, warm in runners:
        v = rates[r.case.name]
        med = statistics.median(v)
        pixels = r.case.patch**2
        rows.append({**r.case.__dict__, "name": r.case.name, "patches_per_s": [round(x, 2) for x in v],
                     "median_patches_per_s": round(med, 2), "min": round(min(v), 2), "max": round(max(v), 2),
                     "median_mpix_per_s": round(med * pixels / 1e6, 3),
                     "vs_fp32": round(med * pixels / (baseline[r.case.stage] * 128**2), 2),
                     "warmup_s": round(warm, 1)})
    meta = {"date": time.strftime("%Y-%m-%d %H:%M:%S"), "torch": torch.__version__, "cpu": _cpu_name(),
            "cores": os.cpu_count(), "python": platform.python_version(), "rounds": args.rounds,
            "seconds_per_case": args.seconds, "config": Path(args.config).name}
    out = Path(args.out)
    (out / "results.json").write_text(json.dumps({"meta": meta, "cases": rows}, indent=2) + "\n")
    (out / "RESULTS.md").write_text(render(meta, rows))
    print(render(meta, rows))


def _cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                flags = Path("/proc/cpuinfo").read_text()
                extra = [f for f in ("avx512_bf16", "amx_bf16") if f in flags]
                return line.split(":", 1)[1].strip() + (f" ({', '.join(extra)})" if extra else "")
    except OSError:
        pass
    return platform.processor()


def render(meta: dict, rows: list[dict]) -> str:
    lines = [
        "# Training throughput (CPU)",
        "",
        f"Generated by `.venv/bin/python bench/training/run.py` on {meta['date']}: {meta['cpu']}, {meta['cores']} "
        f"cores, torch {meta['torch']}, model from `{meta['config']}`. Synthetic patches, one optimiser step per "
        f"iteration; each case ran {meta['seconds_per_case']} s per round, {meta['rounds']} rounds in turn "
        "(min / median / max over rounds). `vs fp32` compares median HR pixels per second with the same stage's "
        "fp32, contiguous, 1-thread 8×128² case. Other processes ran during the measurement (it is a shared "
        "machine): the 2-thread rows show what that does to a two-thread step.",
        "",
        "| stage | precision | layout | threads | batch × patch | compile | patches/s (min / median / max) "
        "| HR MP/s | vs fp32 |",
        "| --- | --- | --- | ---: | --- | --- | --- | ---: | ---: |",
    ]
    for r in rows:
        lines.append(f"| {r['stage']} | {r['precision']} | {r['layout']} | {r['threads']} | {r['batch']} × "
                     f"{r['patch']}² | {'yes' if r['compiled'] else 'no'} | {r['min']} / "
                     f"{r['median_patches_per_s']} / {r['max']} | {r['median_mpix_per_s']} | {r['vs_fp32']}× |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
