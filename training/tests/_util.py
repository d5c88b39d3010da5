"""Helpers shared by the test modules (not a test file)."""

from __future__ import annotations

import torch

from oftsr.networks import BackboneConfig, FlowDenoiser, OneStepStudent, StudentGraph

TINY = BackboneConfig(channels=(8, 16), blocks=(1, 1), emb_dim=16)  # alignment 2
# Three levels (alignment 4) whose single-phase margin (34) is not a multiple of the alignment, like the default
# config's (50): the case where probing one output phase underestimates the margin.
TINY3 = BackboneConfig(channels=(8, 8, 8), blocks=(2, 1, 1), emb_dim=16)


def randomise(module: torch.nn.Module, seed: int = 0, gain: float = 1.0) -> torch.nn.Module:
    """Overwrite every conv/linear weight with N(0, gain^2 / fan_in) and every bias with N(0, 0.1^2), so that the
    zero-initialised layers (ResBlock.conv2, the backbone tail, the student's time offset) carry signal and activations
    keep an O(1) scale through the network (deep paths are not attenuated to nothing)."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for m in module.modules():
            if isinstance(m, (torch.nn.Conv2d, torch.nn.Linear)):
                fan_in = m.weight[0].numel()
                m.weight.copy_(torch.randn(m.weight.shape, generator=gen) * gain / fan_in**0.5)
                if m.bias is not None:
                    m.bias.copy_(torch.randn(m.bias.shape, generator=gen) * 0.1)
    return module


def tiny_teacher(sigma_p: float = 0.1) -> FlowDenoiser:
    return FlowDenoiser(TINY, sigma_p)


def tiny_student(sigma_p: float = 0.1) -> OneStepStudent:
    return OneStepStudent(TINY, sigma_p)


def radius_per_phase(graph: StudentGraph, size: int = 96) -> list[int]:
    """Dependency radius in LR px of one output pixel at each LR phase p = 0..alignment-1 (the LR pixel probed is
    size/2 + p on both axes), by the same gradient probe as networks.receptive_radius. `graph` must be randomised."""
    align = graph.student.backbone.alignment
    radii = []
    for p in range(align):
        lr = torch.randn(1, 3, size, size, requires_grad=True)
        out = graph.unclamped(lr, torch.randn(1, 3, 4 * size, 4 * size), torch.tensor([0.5]))
        c = size // 2 + p
        out[..., 4 * c, 4 * c].sum().backward()
        ys, xs = torch.nonzero(lr.grad.abs().sum(dim=(0, 1)) > 0, as_tuple=True)
        r = max(int((ys - c).abs().max()), int((xs - c).abs().max()))
        assert r < size // 2 - align, "probe too small for this network"
        radii.append(r)
    return radii
