"""Short overfits: the teacher's flow loss falls on one fixed patch, and a distillation step moves the student."""

from __future__ import annotations

import math

import numpy as np
import torch
from _util import TINY

from oftsr.data import degrade, to_signed
from oftsr.loss import DistillLoss, FlowLoss
from oftsr.networks import BicubicUp, FlowDenoiser, OneStepStudent


def _patch() -> tuple[torch.Tensor, torch.Tensor]:
    """One fixed 32x32 HR patch with detail bicubic up-sampling cannot restore, and its up(LR)."""
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:32, 0:32]
    img = np.stack([np.sin(0.9 * xx + c) * np.cos(0.7 * yy - c) for c in range(3)]) * 0.6
    img += rng.normal(0, 0.15, img.shape)
    hr = torch.from_numpy(np.clip(img, -1, 1)).float()[None]
    hr = to_signed(torch.round((hr + 1) * 127.5).to(torch.uint8))
    return BicubicUp()(degrade(hr)), hr


def _train_teacher(steps: int = 80):
    torch.manual_seed(0)
    up, hr = _patch()
    net = FlowDenoiser(TINY, 0.1)
    opt = torch.optim.Adam(net.parameters(), lr=1e-3)
    loss_fn = FlowLoss(0.1)
    losses = []
    for _ in range(steps):
        loss = loss_fn(net, up.repeat(4, 1, 1, 1), hr.repeat(4, 1, 1, 1)).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    return net, up, hr, losses


def test_teacher_overfits_one_patch():
    net, up, hr, losses = _train_teacher()
    first, last = np.mean(losses[:10]), np.mean(losses[-10:])
    assert all(math.isfinite(v) for v in losses)
    assert last < 0.6 * first, f"loss {first:.4f} -> {last:.4f}"
    # The one-step (t = 0) estimate is now closer to the patch than bicubic is.
    with torch.no_grad():
        x1_hat = net.denoise(up, up, torch.zeros(1))
    assert (x1_hat - hr).abs().mean() < (up - hr).abs().mean()


def test_student_distillation_step():
    teacher, up, hr, _ = _train_teacher(steps=20)
    teacher.eval().requires_grad_(False)
    for p in teacher.parameters():
        p.grad = None  # drop the gradients left by its own training
    student = OneStepStudent.from_teacher(teacher)
    before = {k: v.clone() for k, v in student.state_dict().items()}
    opt = torch.optim.Adam(student.parameters(), lr=1e-3)
    loss_fn = DistillLoss(0.1)
    for _ in range(2):
        total, parts = loss_fn(student, teacher, up.repeat(2, 1, 1, 1), hr.repeat(2, 1, 1, 1))
        assert torch.isfinite(total).all() and all(torch.isfinite(v).all() for v in parts.values())
        opt.zero_grad()
        total.mean().backward()
        opt.step()
    after = student.state_dict()
    changed = [k for k in before if not torch.equal(before[k], after[k])]
    assert changed
    # The zero-initialised time offset is among what moves: the student starts to depend on t.
    assert any(k.startswith("time_offset.mlp.2") for k in changed)
    assert all(p.grad is None for p in teacher.parameters())
