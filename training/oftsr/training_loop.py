"""The training loop shared by both stages: a wall-clock budget, warm-up then a cosine decay over that budget,
bf16 autocast (CUDA, and the CPU where the config asks for it), channels_last on CUDA, gradient clipping, an EMA of
the weights, periodic throughput logs, and two files per stage:

- `<stage>.pt`: fp16 EMA weights and the cumulative training record: what evaluation and export use;
- `<stage>.state.pt`: what a later round needs to go on where this one stopped: the raw weights (fp16) and Adam's
  moments (bf16: their range, not their last digits, is what matters), with the step count. A round that resumes
  from it skips the warm-up; each round's cosine runs over its own budget (warm restarts, SGDR-style).
"""

from __future__ import annotations

import copy
import json
import math
import os
import signal
import statistics
import time
from contextlib import nullcontext
from dataclasses import dataclass
from pathlib import Path

import torch

from .data import PatchSampler, degrade, to_signed
from .loss import DistillLoss, FlowLoss
from .networks import BicubicUp, FlowDenoiser, ModelConfig, OneStepStudent


@dataclass
class StageOptions:
    minutes: float
    batch: int
    lr: float
    warmup: int = 200
    ema: float = 0.999
    grad_clip: float = 1.0
    lr_floor: float = 0.1  # final lr as a fraction of the peak
    log_every_s: float = 15.0
    snapshot_every_s: float | None = None  # call on_snapshot(trainer, steps, patches, seconds) this often (long CPU runs: watch progress)
    max_steps: int | None = None  # for tests: stop after this many steps whatever the budget
    precision: str = "auto"  # auto (bf16 on CUDA, fp32 on the CPU) | bf16 | fp32
    threads: str | int = 0  # CPU only: 0 keeps torch's setting, N fixes it, "auto" tunes it while training
    clock: str = "wall"  # the budget's clock: "wall", or "cpu" (this process's CPU time: fair on a shared machine)


# ----------------------------------------------------------------------------
# Checkpoints.


def save_checkpoint(path: Path, net: torch.nn.Module, model_cfg: ModelConfig, stage: str, meta: dict) -> None:
    state = {k: v.detach().to("cpu", torch.float16) if v.is_floating_point() else v.cpu()
             for k, v in net.state_dict().items()}
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    torch.save({"stage": stage, "model": model_cfg.to_dict(), "state": state, "meta": meta}, tmp)
    tmp.replace(path)


def state_path(checkpoint: Path) -> Path:
    """teacher.pt -> teacher.state.pt: the training state that goes with an EMA checkpoint."""
    return checkpoint.with_name(checkpoint.stem + ".state.pt")


def save_training_state(path: Path, net: torch.nn.Module, optim: torch.optim.Optimizer, steps: int) -> None:
    def pack(v, dtype):
        return v.detach().to("cpu", dtype) if torch.is_tensor(v) and v.is_floating_point() and v.dim() else v

    opt_state = optim.state_dict()
    opt_state = {"param_groups": opt_state["param_groups"],
                 "state": {i: {k: pack(v, torch.bfloat16) for k, v in st.items()} for i, st in opt_state["state"].items()}}
    state = {"net": {k: pack(v, torch.float16) for k, v in net.state_dict().items()}, "optim": opt_state,
             "steps": steps}
    tmp = path.with_suffix(".tmp")
    torch.save(state, tmp)
    tmp.replace(path)


def load_training_state(path: Path, net: torch.nn.Module, optim: torch.optim.Optimizer, steps: int) -> bool:
    """Restore the raw weights and the optimiser saved beside a checkpoint of `steps` steps; False (nothing changed)
    when there is no state file or it belongs to another checkpoint."""
    if not path.exists():
        return False
    state = torch.load(path, map_location="cpu", weights_only=True)
    if state.get("steps") != steps:
        return False
    ref = net.state_dict()
    net.load_state_dict({k: v.to(ref[k].dtype) for k, v in state["net"].items()})
    device = next(net.parameters()).device
    opt_state = state["optim"]
    opt_state["state"] = {int(i): {k: v.to(device, torch.float32) if torch.is_tensor(v) and v.dim() else v
                                   for k, v in st.items()} for i, st in opt_state["state"].items()}
    optim.load_state_dict(opt_state)
    return True


def load_checkpoint(path: Path, device="cpu") -> tuple[torch.nn.Module, ModelConfig, dict]:
    ckpt = torch.load(path, map_location="cpu", weights_only=True)
    cfg = ModelConfig.from_dict(ckpt["model"])
    cls = FlowDenoiser if ckpt["stage"] == "teacher" else OneStepStudent
    net = cls(cfg.backbone, cfg.sigma_p)
    net.load_state_dict({k: v.float() if v.is_floating_point() else v for k, v in ckpt["state"].items()})
    return net.to(device), cfg, ckpt["meta"]


# ----------------------------------------------------------------------------
# The loop.


def cpu_has_native_bf16() -> bool:
    return torch.cpu._is_avx512_bf16_supported() or torch.cpu._is_amx_tile_supported()


def _lr_at(step: int, frac: float, opt: StageOptions) -> float:
    warm = min(1.0, (step + 1) / max(1, opt.warmup))
    cosine = opt.lr_floor + (1 - opt.lr_floor) * 0.5 * (1 + math.cos(math.pi * min(1.0, frac)))
    return opt.lr * warm * cosine


class ThreadTuner:
    """Chooses torch's CPU thread count while training. With two threads a step waits at every barrier for the
    slower core, so when another process takes a core (tests, benchmarks, a second run) two threads can be 10-100x
    slower than one; when the machine is quiet two are faster. Every `interval` seconds the tuner times `probe` steps
    at each count and keeps the faster. Probing is paid for in slow steps, so a count whose first step is already
    `hopeless` times slower than the best measured is dropped at once, and while the choice stays the same the
    interval doubles (up to `max_every_s`)."""

    def __init__(self, choices: tuple[int, ...], every_s: float = 60.0, probe: int = 6, log=print,
                 hopeless: float = 3.0, max_every_s: float = 480.0):
        self.choices, self.every_s, self.probe, self.log = choices, every_s, probe, log
        self.hopeless, self.max_every_s = hopeless, max_every_s
        self.interval = every_s
        self.current = choices[-1]
        self.queue: list[int] = []  # thread counts still to probe, `probe` steps each
        self.times: dict[int, list[float]] = {}
        self.last = time.time()
        torch.set_num_threads(self.current)

    def after_step(self, seconds: float) -> None:
        if self.queue:
            n = torch.get_num_threads()
            self.times.setdefault(n, []).append(seconds)
            others = [statistics.median(v) for m, v in self.times.items() if m != n]
            hopeless = bool(others) and seconds > self.hopeless * min(others)
            if hopeless or len(self.times[n]) >= self.probe:
                self.queue.pop(0)
                if self.queue:
                    torch.set_num_threads(self.queue[0])
                else:
                    self._choose()
        elif time.time() - self.last >= self.interval:
            self.times = {}
            self.queue = list(self.choices)
            torch.set_num_threads(self.queue[0])

    def _choose(self) -> None:
        best = min(self.times, key=lambda n: statistics.median(self.times[n]))
        if best != self.current:
            self.log(json.dumps({"event": "threads", "threads": best,
                                 "step_s": {n: round(statistics.median(v), 3) for n, v in self.times.items()}}))
            self.interval = self.every_s
        else:
            self.interval = min(self.interval * 2, self.max_every_s)
        self.current = best
        torch.set_num_threads(best)
        self.last = time.time()


class StopRequest:
    """SIGTERM/SIGINT end the current stage at the next step, which then saves as at the end of its budget, and
    skip the stages after it: a background round can be stopped cleanly at any time."""

    requested = False

    @classmethod
    def install(cls) -> None:
        def handler(signum, frame):
            cls.requested = True

        signal.signal(signal.SIGTERM, handler)
        signal.signal(signal.SIGINT, handler)


class Trainer:
    """Runs one stage. `loss_fn(net, up_lr, hr)` returns (per-sample loss, dict of per-sample parts)."""

    def __init__(self, net, loss_fn, sampler: PatchSampler, opt: StageOptions, device, log=print, on_snapshot=None):
        self.net, self.loss_fn, self.sampler, self.opt, self.device, self.log = net, loss_fn, sampler, opt, device, log
        self.on_snapshot = on_snapshot
        self.cuda = torch.device(device).type == "cuda"
        if self.cuda:
            self.net = self.net.to(memory_format=torch.channels_last)
        self.ema = copy.deepcopy(self.net).eval().requires_grad_(False)
        self.params = [p for p in self.net.parameters() if p.requires_grad]
        self.optim = torch.optim.Adam(self.params, lr=opt.lr, betas=(0.9, 0.99), fused=self.cuda)
        self.up = BicubicUp().to(device)
        self.resumed = False  # a restored run keeps its EMA's full decay from the first step
        self.bf16 = opt.precision == "bf16" or (opt.precision == "auto" and self.cuda)
        if self.bf16 and not self.cuda and not cpu_has_native_bf16():
            # Without AVX-512 BF16 or AMX, bf16 autocast is emulated: measured about 15x slower than fp32 on an
            # AVX2-only EPYC (0.04 against 0.6 student steps/s, one thread).
            log(json.dumps({"event": "precision", "asked": "bf16", "using": "fp32",
                            "why": "this CPU has no native bf16 (AVX-512 BF16 or AMX)"}))
            self.bf16 = False
        self.tuner = None
        if not self.cuda and opt.threads == "auto":
            # One thread against all of them: the two regimes (a core taken by another process, or not).
            self.tuner = ThreadTuner(tuple(sorted({1, os.cpu_count() or 1})), log=log)
        elif not self.cuda and opt.threads:
            torch.set_num_threads(int(opt.threads))

    def restore(self, path: Path, steps: int) -> bool:
        """Go on from a saved training state (raw weights and optimiser): no warm-up then."""
        if not load_training_state(path, self.net, self.optim, steps):
            return False
        self.opt.warmup = 0
        self.resumed = True
        return True

    def save_state(self, path: Path, steps: int) -> None:
        save_training_state(path, self.net, self.optim, steps)

    def _autocast(self):
        if not self.bf16:
            return nullcontext()
        return torch.autocast("cuda" if self.cuda else "cpu", dtype=torch.bfloat16)

    def batch(self):
        hr = to_signed(self.sampler.sample(self.opt.batch))
        lr = degrade(hr)
        up_lr = self.up(lr)
        if self.cuda:
            hr, up_lr = hr.contiguous(memory_format=torch.channels_last), up_lr.contiguous(memory_format=torch.channels_last)
        return up_lr, hr

    def run(self) -> dict:
        opt, budget = self.opt, self.opt.minutes * 60.0
        budget_clock = time.process_time if opt.clock == "cpu" else time.time
        budget_start = budget_clock()
        start = last_log = last_snapshot = time.time()
        step, patches, history, parts_acc, loss_acc, n_acc = 0, 0, [], {}, 0.0, 0
        self.net.train()
        while True:
            elapsed = budget_clock() - budget_start
            if elapsed >= budget or StopRequest.requested or (opt.max_steps is not None and step >= opt.max_steps):
                break
            lr = _lr_at(step, elapsed / budget, opt)
            for g in self.optim.param_groups:
                g["lr"] = lr
            step_start = time.time()
            up_lr, hr = self.batch()
            with self._autocast():
                loss, parts = self.loss_fn(self.net, up_lr, hr)
                loss = loss.mean()
            self.optim.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(self.params, opt.grad_clip)
            self.optim.step()
            with torch.no_grad():
                decay = opt.ema if self.resumed else min(opt.ema, (1 + step) / (10 + step))
                torch._foreach_lerp_(list(self.ema.parameters()), list(self.net.parameters()), 1 - decay)
            step += 1
            patches += opt.batch
            if self.tuner:
                self.tuner.after_step(time.time() - step_start)
            loss_acc += loss.detach()
            for k, v in parts.items():
                parts_acc[k] = parts_acc.get(k, 0.0) + v.mean()
            n_acc += 1
            now = time.time()
            if now - last_log >= opt.log_every_s:
                rec = {"step": step, "s": round(now - start, 1), "lr": lr, "loss": float(loss_acc / n_acc),
                       **{k: float(v / n_acc) for k, v in parts_acc.items()},
                       "it_s": round(n_acc / (now - last_log), 2), "patches_s": round(n_acc * opt.batch / (now - last_log), 1)}
                history.append(rec)
                self.log(json.dumps(rec))
                last_log, parts_acc, loss_acc, n_acc = now, {}, 0.0, 0
            if self.on_snapshot and opt.snapshot_every_s and now - last_snapshot >= opt.snapshot_every_s:
                self.on_snapshot(self, step, patches, now - start)
                last_snapshot = now
        seconds = time.time() - start
        cpu = {"cpu_seconds": round(budget_clock() - budget_start, 1)} if opt.clock == "cpu" else {}
        return {"steps": step, "patches": patches, "seconds": round(seconds, 1), **cpu,
                "patches_per_s": round(patches / max(seconds, 1e-9), 1), "history": history}


def flow_loss_fn(sigma_p: float, weighting: str):
    loss = FlowLoss(sigma_p, weighting=weighting)
    return lambda net, up_lr, hr: (loss(net, up_lr, hr), {})


def distill_loss_fn(teacher: FlowDenoiser, sigma_p: float, **kwargs):
    loss = DistillLoss(sigma_p, **kwargs)
    return lambda net, up_lr, hr: loss(net, teacher, up_lr, hr)
