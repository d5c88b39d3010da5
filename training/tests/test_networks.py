"""Networks: the in-graph bicubic, the parameter budget, tile-exactness of the shipped graph and the student's
initialisation from the teacher."""

from __future__ import annotations

import json

import pytest
import torch
import torch.nn.functional as F
from _util import TINY, TINY3, radius_per_phase, randomise
from conftest import TRAINING

from oftsr import networks
from oftsr.export_onnx import measure_margin
from oftsr.networks import (
    BicubicUp,
    FlowDenoiser,
    ModelConfig,
    OneStepStudent,
    StudentGraph,
    bicubic_phase_taps,
    count_params,
    receptive_radius,
)


@pytest.mark.parametrize("h,w", [(7, 5), (13, 9), (1, 3), (2, 2)])
def test_bicubic_up_equals_interpolate(h, w):
    x = torch.randn(2, 3, h, w)
    got = BicubicUp()(x)
    want = F.interpolate(x, scale_factor=4, mode="bicubic", align_corners=False)
    assert got.shape == (2, 3, 4 * h, 4 * w)
    assert (got - want).abs().max().item() < 1e-5


def test_bicubic_taps_partition_of_unity():
    taps = bicubic_phase_taps(4)
    assert torch.allclose(taps.sum(dim=1), torch.ones(4, dtype=taps.dtype))
    # Phase 0 of x4: source offset -0.375 -> the taps mirror phase 3's.
    assert torch.allclose(taps[0], taps[3].flip(0))


def test_default_config_param_budget():
    cfg = ModelConfig.from_dict(json.loads((TRAINING / "configs" / "default.json").read_text())["model"])
    student = OneStepStudent(cfg.backbone, cfg.sigma_p)
    n = count_params(student)
    assert 100_000 < n <= 5_000_000


STACK = networks.BackboneConfig(kind="stack", channels=(8,), blocks=(2,), emb_dim=16)  # alignment 1
CONFIGS = {"2-level": (TINY, (44, 36)), "3-level": (TINY3, (96, 80)), "stack": (STACK, (30, 26))}


def _small_graph(cfg, seed: int = 0) -> StudentGraph:
    torch.manual_seed(seed)
    return randomise(StudentGraph(OneStepStudent(cfg, 0.1)).eval(), seed=seed)


def _tile_spans(length: int, split: int, overlap: int) -> list[tuple[int, int]]:
    """Two tiles along one axis, meeting around `split`, each reaching `overlap` past it."""
    return [(0, split + overlap), (split - overlap, length)]


def _tiled_compare(graph: StudentGraph, lr, noise, t, overlap: int, keep: int) -> float:
    """Max |tile - whole| over each tile's pixels that lie >= `keep` LR px from the tile's interior edges, for a 2x2
    grid of tiles whose origins are multiples of the alignment."""
    h, w = lr.shape[-2:]
    align = graph.student.backbone.alignment
    split_y, split_x = (h // 2) // align * align, (w // 2) // align * align
    with torch.no_grad():
        whole = graph.unclamped(lr, noise, t)
        worst = 0.0
        for y0, y1 in _tile_spans(h, split_y, overlap):
            for x0, x1 in _tile_spans(w, split_x, overlap):
                assert y0 % align == 0 and x0 % align == 0 and 0 <= y0 < y1 <= h and 0 <= x0 < x1 <= w
                tile = graph.unclamped(lr[..., y0:y1, x0:x1], noise[..., 4 * y0 : 4 * y1, 4 * x0 : 4 * x1], t)
                # Pixels far enough from the interior edges (image borders are not interior edges).
                a0, a1 = (y0 + keep if y0 > 0 else 0), (y1 - keep if y1 < h else h)
                b0, b1 = (x0 + keep if x0 > 0 else 0), (x1 - keep if x1 < w else w)
                assert a1 > a0 and b1 > b0
                got = tile[..., 4 * (a0 - y0) : 4 * (a1 - y0), 4 * (b0 - x0) : 4 * (b1 - x0)]
                ref = whole[..., 4 * a0 : 4 * a1, 4 * b0 : 4 * b1]
                worst = max(worst, (got - ref).abs().max().item())
    return worst


def _inputs(h: int, w: int):
    gen = torch.Generator().manual_seed(1)
    lr = torch.rand(2, 3, h, w, generator=gen) * 2 - 1
    noise = torch.randn(2, 3, 4 * h, 4 * w, generator=gen)
    return lr, noise, torch.tensor([0.2, 0.9])


@pytest.mark.parametrize("name", CONFIGS)
def test_margin_covers_every_alignment_phase(name):
    """measure_margin must bound the dependency radius of every output pixel, whatever its phase within the
    alignment; otherwise pixels `margin` away from a tile edge are not exact."""
    graph = _small_graph(CONFIGS[name][0])
    margin = measure_margin(graph)
    align = graph.student.backbone.alignment
    radii = radius_per_phase(graph)
    assert max(radii) <= margin, f"margin {margin} but per-phase radii {radii}"
    assert margin <= max(radii) + align, f"margin {margin} overstates the per-phase radii {radii}"


@pytest.fixture
def float64_time_features(monkeypatch):
    """timestep_features always returns float32; let it follow t's dtype so a .double() graph runs in float64."""
    orig = networks.timestep_features
    monkeypatch.setattr(networks, "timestep_features", lambda t, dim=128: orig(t, dim).to(t.dtype))


def _tile_setup(name: str, dtype: torch.dtype):
    cfg, (h, w) = CONFIGS[name]
    graph = _small_graph(cfg)
    margin = measure_margin(graph)
    align = graph.student.backbone.alignment
    assert h % align == 0 and w % align == 0
    lr, noise, t = _inputs(h, w)
    return graph.to(dtype), margin, align, lr.to(dtype), noise.to(dtype), t.to(dtype)


def test_student_graph_tile_exact_float32():
    """The shipped dtype: tiles with origins on the alignment and overlap >= margin reproduce the whole image."""
    graph, margin, align, lr, noise, t = _tile_setup("2-level", torch.float32)
    overlap = -(-margin // align) * align  # smallest multiple of the alignment >= margin
    err = _tiled_compare(graph, lr, noise, t, overlap, keep=margin)
    assert err < 1e-5, f"margin {margin}, overlap {overlap}: max |tile - whole| = {err:.3g}"
    # An aligned overlap a whole alignment step short of the margin is not enough.
    small = (margin - align) // align * align
    assert _tiled_compare(graph, lr, noise, t, small, keep=small) > 1e-4


@pytest.mark.parametrize("name", CONFIGS)
def test_student_graph_tile_exact_float64(name, float64_time_features):
    """In float64 an exact pixel agrees to ~1e-15 and the weakest real dependency (one pixel at the far end of the
    deepest path) still shows at ~1e-8, so the test separates the two cleanly: every tile pixel at least `margin` LR
    px from the tile's interior edges must be exact, and with overlap < margin some pixel must not be."""
    graph, margin, align, lr, noise, t = _tile_setup(name, torch.float64)
    overlap = -(-margin // align) * align
    err = _tiled_compare(graph, lr, noise, t, overlap, keep=margin)
    assert err < 1e-10, f"margin {margin}, overlap {overlap}: max |tile - whole| = {err:.3g}"
    small = (margin - align) // align * align
    assert _tiled_compare(graph, lr, noise, t, small, keep=small) > 1e-9


def test_receptive_radius_of_known_operator():
    """A 5x5 convolution at LR (radius 2) composed with a 3x3 one (radius 1): radius 3."""
    conv = torch.nn.Sequential(torch.nn.Conv2d(1, 1, 5, padding=2), torch.nn.Conv2d(1, 1, 3, padding=1))
    randomise(conv)
    r = receptive_radius(lambda x: conv(x), lambda h, w: (torch.randn(1, 1, h, w),), size=32)
    assert r == 3


def test_student_from_teacher_matches_teacher_t0():
    torch.manual_seed(3)
    teacher = randomise(FlowDenoiser(TINY, 0.1), seed=3)
    student = OneStepStudent.from_teacher(teacher)
    x0, up = torch.randn(4, 3, 32, 24), torch.randn(4, 3, 32, 24)
    t = torch.tensor([0.0, 0.3, 0.7, 1.0])
    with torch.no_grad():
        want = teacher.denoise(x0, up, torch.zeros(4))
        got = student.predict(x0, up, t)
        assert (want - up).abs().max() > 1e-3  # the randomised backbone really contributes
        assert (got - want).abs().max().item() < 1e-6
        # velocity = prediction - x0
        assert torch.allclose(student.velocity(x0, up, t), got - x0, atol=1e-6)
        # The teacher itself does depend on t: the match is the time offset's doing, not a t-blind network.
        assert (teacher.denoise(x0, up, t) - want).abs().max() > 1e-4
        # Once the offset is non-zero, t matters for the student too.
        randomise(student.time_offset, seed=9)
        assert (student.predict(x0, up, t) - want).abs().max() > 1e-4


def test_teacher_velocity_is_x1_minus_xt_over_one_minus_t():
    teacher = randomise(FlowDenoiser(TINY, 0.1), seed=4)
    x, up, t = torch.randn(2, 3, 16, 16), torch.randn(2, 3, 16, 16), torch.tensor([0.25, 0.5])
    with torch.no_grad():
        v = teacher.velocity(x, up, t)
        x1 = teacher.denoise(x, up, t)
    assert torch.allclose(v, (x1 - x) / (1 - t).view(-1, 1, 1, 1), atol=1e-5)


def test_backbone_candidates_stay_within_the_compute_budget():
    """configs/backbones.json: every candidate is conv-only at <= 25k MAC per output pixel (issue #14's budget)."""
    doc = json.loads((TRAINING / "configs" / "backbones.json").read_text())
    assert len(doc["candidates"]) >= 3
    for name, backbone in doc["candidates"].items():
        cfg = ModelConfig.from_dict({"backbone": backbone})
        macs = networks.macs_per_output_pixel(StudentGraph(OneStepStudent(cfg.backbone, cfg.sigma_p)), 16)
        assert macs <= 25_000, f"{name}: {macs:.0f} MAC per output pixel"


def test_unknown_backbone_kind_is_refused():
    with pytest.raises(ValueError, match="unknown backbone kind"):
        FlowDenoiser(networks.BackboneConfig(kind="transformer"), 0.1)
