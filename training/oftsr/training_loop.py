"""The training loop shared by both stages: a wall-clock budget, warm-up then a cosine decay over that budget,
bf16 autocast and channels_last on CUDA, gradient clipping, an EMA of the weights, periodic throughput logs and
resumable fp16 checkpoints (EMA weights only: small enough to commit, and what evaluation and export use)."""

from __future__ import annotations

import copy
import json
import math
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
    snapshot_every_s: float | None = None  # call on_snapshot(ema) this often (long CPU runs: watch progress)
    max_steps: int | None = None  # for tests: stop after this many steps whatever the budget


# ----------------------------------------------------------------------------
# Checkpoints.


def save_checkpoint(path: Path, net: torch.nn.Module, model_cfg: ModelConfig, stage: str, meta: dict) -> None:
    state = {k: v.detach().to("cpu", torch.float16) if v.is_floating_point() else v.cpu()
             for k, v in net.state_dict().items()}
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    torch.save({"stage": stage, "model": model_cfg.to_dict(), "state": state, "meta": meta}, tmp)
    tmp.replace(path)


def load_checkpoint(path: Path, device="cpu") -> tuple[torch.nn.Module, ModelConfig, dict]:
    ckpt = torch.load(path, map_location="cpu", weights_only=True)
    cfg = ModelConfig.from_dict(ckpt["model"])
    cls = FlowDenoiser if ckpt["stage"] == "teacher" else OneStepStudent
    net = cls(cfg.backbone, cfg.sigma_p)
    net.load_state_dict({k: v.float() if v.is_floating_point() else v for k, v in ckpt["state"].items()})
    return net.to(device), cfg, ckpt["meta"]


# ----------------------------------------------------------------------------
# The loop.


def _lr_at(step: int, frac: float, opt: StageOptions) -> float:
    warm = min(1.0, (step + 1) / max(1, opt.warmup))
    cosine = opt.lr_floor + (1 - opt.lr_floor) * 0.5 * (1 + math.cos(math.pi * min(1.0, frac)))
    return opt.lr * warm * cosine


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

    def _autocast(self):
        return torch.autocast("cuda", dtype=torch.bfloat16) if self.cuda else nullcontext()

    def batch(self):
        hr = to_signed(self.sampler.sample(self.opt.batch))
        lr = degrade(hr)
        up_lr = self.up(lr)
        if self.cuda:
            hr, up_lr = hr.contiguous(memory_format=torch.channels_last), up_lr.contiguous(memory_format=torch.channels_last)
        return up_lr, hr

    def run(self) -> dict:
        opt, budget = self.opt, self.opt.minutes * 60.0
        start = last_log = last_snapshot = time.time()
        step, patches, history, parts_acc, loss_acc, n_acc = 0, 0, [], {}, 0.0, 0
        self.net.train()
        while True:
            elapsed = time.time() - start
            if elapsed >= budget or (opt.max_steps is not None and step >= opt.max_steps):
                break
            lr = _lr_at(step, elapsed / budget, opt)
            for g in self.optim.param_groups:
                g["lr"] = lr
            up_lr, hr = self.batch()
            with self._autocast():
                loss, parts = self.loss_fn(self.net, up_lr, hr)
                loss = loss.mean()
            self.optim.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(self.params, opt.grad_clip)
            self.optim.step()
            with torch.no_grad():
                decay = min(opt.ema, (1 + step) / (10 + step))
                torch._foreach_lerp_(list(self.ema.parameters()), list(self.net.parameters()), 1 - decay)
            step += 1
            patches += opt.batch
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
                self.on_snapshot(self.ema, step, patches, now - start)
                last_snapshot = now
        seconds = time.time() - start
        return {"steps": step, "patches": patches, "seconds": round(seconds, 1),
                "patches_per_s": round(patches / max(seconds, 1e-9), 1), "history": history}


def flow_loss_fn(sigma_p: float, weighting: str):
    loss = FlowLoss(sigma_p, weighting=weighting)
    return lambda net, up_lr, hr: (loss(net, up_lr, hr), {})


def distill_loss_fn(teacher: FlowDenoiser, sigma_p: float, **kwargs):
    loss = DistillLoss(sigma_p, **kwargs)
    return lambda net, up_lr, hr: loss(net, teacher, up_lr, hr)
