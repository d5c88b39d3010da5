"""Samplers for the teacher's probability-flow ODE dx/dt = v_theta(x_t, up(LR), t), from x0 at t = 0 to t = 1.

Every sampler takes the time grid as data (`uniform_grid(nfe)`, or any increasing sequence from 0 to 1), so the
solver and the schedule change independently, as in k-diffusion.
"""

from __future__ import annotations

import torch

from .networks import FlowDenoiser


def uniform_grid(steps: int, device=None) -> torch.Tensor:
    return torch.linspace(0.0, 1.0, steps + 1, device=device)


def _full(t: float, x: torch.Tensor) -> torch.Tensor:
    return torch.full((x.shape[0],), float(t), device=x.device, dtype=torch.float32)


@torch.no_grad()
def sample_euler(net: FlowDenoiser, x0: torch.Tensor, up_lr: torch.Tensor, ts: torch.Tensor) -> torch.Tensor:
    """Euler steps; NFE = len(ts) - 1. The step into t = 1 uses x1_hat directly (the same point, no division)."""
    x = x0
    for t_cur, t_next in zip(ts[:-1].tolist(), ts[1:].tolist()):
        x1_hat = net.denoise(x, up_lr, _full(t_cur, x))
        x = x + (t_next - t_cur) / (1.0 - t_cur) * (x1_hat - x)  # Euler step with v = (x1_hat - x) / (1 - t).
    return x


@torch.no_grad()
def sample_midpoint(net: FlowDenoiser, x0: torch.Tensor, up_lr: torch.Tensor, ts: torch.Tensor) -> torch.Tensor:
    """Explicit midpoint (RK2) steps; NFE = 2 (len(ts) - 1)."""
    x = x0
    for t_cur, t_next in zip(ts[:-1].tolist(), ts[1:].tolist()):
        h = t_next - t_cur
        v_cur = net.velocity(x, up_lr, _full(t_cur, x))
        x_mid = x + (h / 2) * v_cur
        x = x + h * net.velocity(x_mid, up_lr, _full(t_cur + h / 2, x))  # Midpoint correction.
    return x


SAMPLERS = {"euler": sample_euler, "midpoint": sample_midpoint}
