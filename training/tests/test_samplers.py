"""ODE samplers: with a teacher whose x1 prediction is a constant, the flow is a straight line to that constant and
both solvers land on it exactly, for any number of steps."""

from __future__ import annotations

import pytest
import torch
from _util import TINY

from oftsr.networks import FlowDenoiser
from oftsr.samplers import SAMPLERS, sample_euler, sample_midpoint, uniform_grid


class ConstantX1Teacher(FlowDenoiser):
    """The real FlowDenoiser.velocity around a denoise() that always predicts x1 (and counts its calls)."""

    def __init__(self, x1: torch.Tensor):
        super().__init__(TINY, 0.1)
        self.x1, self.nfe, self.ts = x1, 0, []

    def denoise(self, x_t, up_lr, t):
        self.nfe += 1
        self.ts.append(t.clone())
        return self.x1.expand_as(x_t)


def _case():
    gen = torch.Generator().manual_seed(0)
    x1 = torch.rand(2, 3, 8, 8, generator=gen) * 2 - 1
    x0 = torch.randn(2, 3, 8, 8, generator=gen)
    return x1, x0, torch.zeros_like(x0)


@pytest.mark.parametrize("nfe", [1, 2, 4])
def test_euler_reaches_x1(nfe):
    x1, x0, up = _case()
    net = ConstantX1Teacher(x1)
    out = sample_euler(net, x0, up, uniform_grid(nfe))
    assert (out - x1).abs().max().item() < 1e-5
    assert net.nfe == nfe


@pytest.mark.parametrize("nfe", [1, 2, 4])
def test_midpoint_reaches_x1(nfe):
    x1, x0, up = _case()
    net = ConstantX1Teacher(x1)
    out = sample_midpoint(net, x0, up, uniform_grid(nfe))
    assert (out - x1).abs().max().item() < 1e-5
    assert net.nfe == 2 * nfe
    # Midpoint evaluates at t_k and t_k + h/2.
    times = sorted({round(float(t[0]), 6) for t in net.ts})
    want = sorted({round(k / nfe, 6) for k in range(nfe)} | {round((k + 0.5) / nfe, 6) for k in range(nfe)})
    assert times == want


def test_euler_intermediate_state_on_the_line():
    """After the first of 4 Euler steps the state is x0 + 0.25 (x1 - x0): on the straight path."""
    x1, x0, up = _case()
    net = ConstantX1Teacher(x1)
    out = sample_euler(net, x0, up, torch.tensor([0.0, 0.25]))
    assert torch.allclose(out, x0 + 0.25 * (x1 - x0), atol=1e-6)


def test_euler_step_on_a_linear_denoiser():
    """Hand-computed single Euler step with x1_hat = x / 2: from x0 = 1 over [0, 0.5], x = 1 + 0.5 (0.5 - 1) = 0.75."""

    class Half(ConstantX1Teacher):
        def denoise(self, x_t, up_lr, t):
            return x_t / 2

    net = Half(torch.zeros(1))
    out = sample_euler(net, torch.ones(1, 1, 1, 1), torch.zeros(1, 1, 1, 1), torch.tensor([0.0, 0.5]))
    assert out.item() == pytest.approx(0.75)
    # Midpoint: v(x, t) = (x/2 - x) / (1 - t) = -x / (2 (1 - t)); v(1, 0) = -0.5, x_mid = 1 - 0.125 = 0.875,
    # v(0.875, 0.25) = -0.875 / 1.5; x = 1 + 0.5 v = 1 - 0.875 / 3 = 0.708333...
    out = sample_midpoint(net, torch.ones(1, 1, 1, 1), torch.zeros(1, 1, 1, 1), torch.tensor([0.0, 0.5]))
    assert out.item() == pytest.approx(1 - 0.875 / 3, rel=1e-6)


@pytest.mark.parametrize("n", [1, 2, 5, 16])
def test_uniform_grid(n):
    g = uniform_grid(n)
    assert g.shape == (n + 1,)
    assert g[0].item() == 0.0 and g[-1].item() == 1.0
    assert torch.allclose(g[1:] - g[:-1], torch.full((n,), 1.0 / n), atol=1e-6)


def test_sampler_registry():
    assert SAMPLERS == {"euler": sample_euler, "midpoint": sample_midpoint}
