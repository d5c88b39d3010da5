"""Losses against hand-computed values, with stub networks whose outputs are known analytic functions."""

from __future__ import annotations

import math

import pytest
import torch
from _util import randomise, tiny_teacher

from oftsr.loss import (
    DistillLoss,
    FlowLoss,
    distill_target,
    fourier_amplitude_loss,
    radial_frequency_weight,
    cell_mean,
    frequency_cells,
    teacher_midpoint_velocity,
)
from oftsr.networks import OneStepStudent


def test_distill_target_scalar():
    # v_phi(t) + dt/s (v_teacher - v_phi(t)) = 1 + (0.05 / 0.5) (3 - 1) = 1.2
    got = distill_target(torch.tensor(1.0).view(1, 1, 1, 1), torch.tensor(3.0).view(1, 1, 1, 1),
                         torch.tensor([0.05]), torch.tensor([0.5]))
    assert got.shape == (1, 1, 1, 1)
    assert got.item() == pytest.approx(1.2, abs=1e-6)


def test_distill_target_batched_and_limits():
    v_phi = torch.tensor([1.0, -2.0, 0.5]).view(3, 1, 1, 1).expand(3, 2, 2, 2)
    v_teacher = torch.tensor([3.0, 2.0, 0.5]).view(3, 1, 1, 1).expand(3, 2, 2, 2)
    dt = torch.tensor([0.05, 0.25, 0.1])
    s = torch.tensor([0.5, 0.25, 0.4])
    got = distill_target(v_phi, v_teacher, dt, s)
    # Sample 0: 1.2. Sample 1 (t = 0, dt = s): the teacher's velocity, 2. Sample 2 (v_phi = v_teacher): 0.5.
    want = torch.tensor([1.2, 2.0, 0.5]).view(3, 1, 1, 1).expand(3, 2, 2, 2)
    assert torch.allclose(got, want, atol=1e-6)


# ----------------------------------------------------------------------------
# FlowLoss with a stub net whose x1 prediction is a fixed tensor; the stub records the t and x_t it is given.


class FixedDenoiser(torch.nn.Module):
    def __init__(self, pred: torch.Tensor):
        super().__init__()
        self.pred, self.calls = pred, []

    def denoise(self, x_t, up_lr, t):
        self.calls.append((x_t.clone(), up_lr.clone(), t.clone()))
        return self.pred


def _flow_case():
    hr = torch.tensor([[[[0.5, -0.5], [0.25, 1.0]]], [[[0.0, 0.0], [0.0, 0.0]]]])  # [2, 1, 2, 2]
    up = torch.tensor([[[[0.25, -0.25], [0.0, 0.5]]], [[[0.1, -0.1], [0.2, -0.2]]]])
    pred = torch.tensor([[[[0.0, 0.0], [0.0, 0.0]]], [[[1.0, -1.0], [0.5, 0.5]]]])
    # Hand-computed per-sample mean |pred - hr|: sample 0 (0.5 + 0.5 + 0.25 + 1) / 4 = 0.5625, sample 1 3/4 = 0.75.
    return hr, up, pred, torch.tensor([0.5625, 0.75])


def test_flow_loss_x1_weighting_and_xt():
    hr, up, pred, want = _flow_case()
    net = FixedDenoiser(pred)
    loss = FlowLoss(sigma_p=0.0, t_min=0.2)(net, up, hr)
    assert loss.shape == (2,)
    assert torch.allclose(loss, want, atol=1e-6)
    (x_t, up_seen, t), = net.calls
    assert torch.equal(up_seen, up)
    assert ((t >= 0.2) & (t <= 1.0)).all()
    # sigma_p = 0: x0 = up(LR) exactly, so x_t = (1 - t) up + t hr.
    tt = t.view(-1, 1, 1, 1)
    assert torch.allclose(x_t, (1 - tt) * up + tt * hr, atol=1e-6)


def test_flow_loss_noise_enters_x0():
    hr, up, pred, _ = _flow_case()
    net = FixedDenoiser(pred)
    FlowLoss(sigma_p=0.5, t_min=0.2)(net, up, hr)
    (x_t, _, t), = net.calls
    tt = t.view(-1, 1, 1, 1)
    x0 = (x_t - tt * hr) / (1 - tt)
    eps = (x0 - math.sqrt(1 - 0.25) * up) / 0.5  # the noise the loss drew, recovered
    assert eps.abs().max() > 1e-3  # there is noise
    assert eps.abs().max() < 6.0  # and it is of unit scale


def test_flow_loss_v_weighting_divides_by_one_minus_t():
    hr, up, pred, want = _flow_case()
    net = FixedDenoiser(pred)
    loss = FlowLoss(sigma_p=0.1, t_min=0.2, weighting="v")(net, up, hr)
    (_, _, t), = net.calls
    assert torch.allclose(loss, want / (1 - t), rtol=1e-6)


def test_flow_loss_v_equals_velocity_error():
    """weighting='v' is the l1 velocity error |v_hat - (x1 - x0)| with v_hat = (x1_hat - x_t) / (1 - t)."""
    hr, up, pred, _ = _flow_case()
    net = FixedDenoiser(pred)
    loss = FlowLoss(sigma_p=0.0, t_min=0.2, weighting="v")(net, up, hr)
    (x_t, _, t), = net.calls
    tt = t.view(-1, 1, 1, 1)
    v_hat = (pred - x_t) / (1 - tt)
    v_true = hr - up  # x1 - x0 with sigma_p = 0
    assert torch.allclose(loss, (v_hat - v_true).abs().flatten(1).mean(1), atol=1e-5)


def test_flow_loss_rejects_unknown_weighting():
    with pytest.raises(ValueError):
        FlowLoss(0.1, weighting="eps")


# ----------------------------------------------------------------------------
# DistillLoss on a 1-pixel image with analytic stub networks.
#   student: v_phi(x0, t) = a t + b x0   (a, b learnable)
#   teacher: v_theta(x, t) = c x + d t^2 (c a learnable parameter that must receive no gradient)


class StubStudent(torch.nn.Module):
    def __init__(self, a=2.0, b=1.0):
        super().__init__()
        self.a = torch.nn.Parameter(torch.tensor(a))
        self.b = torch.nn.Parameter(torch.tensor(b))
        self.calls = []

    def velocity(self, x0, up_lr, t):
        self.calls.append(t.clone())
        return self.a * t.view(-1, 1, 1, 1) + self.b * x0


class StubTeacher(torch.nn.Module):
    def __init__(self, c=-1.0, d=2.0):
        super().__init__()
        self.c = torch.nn.Parameter(torch.tensor(c))
        self.d = d

    def velocity(self, x, up_lr, t):
        return self.c * x + self.d * t.view(-1, 1, 1, 1) ** 2


def _hand(x0, t, dt, a=2.0, b=1.0, c=-1.0, d=2.0, la=0.01, lb=0.1):
    """The loss and its gradient w.r.t. (a, b) by hand, in float64 scalars."""
    s = t + dt
    v_t, v_s, v_0 = a * t + b * x0, a * s + b * x0, b * x0
    x_t = x0 + t * v_t
    th = lambda x, tt: c * x + d * tt**2  # noqa: E731
    th_t = th(x_t, t)
    x_mid = x_t + dt / 2 * th_t
    th_mid = th(x_mid, t + dt / 2)
    target = v_t + dt / s * (th_mid - v_t)
    l_distill = (v_s - target) ** 2
    l_align = ((1 - t) * (v_t - th_t)) ** 2
    l_bc = (v_0 - th(x0, 0.0)) ** 2
    total = l_distill + la * l_align + lb * l_bc
    # Gradients with the stop-gradient on the target and on everything the teacher sees.
    ga = 2 * (v_s - target) * s + la * 2 * (1 - t) ** 2 * (v_t - th_t) * t + lb * 2 * (v_0 - th(x0, 0.0)) * 0
    gb = 2 * (v_s - target) * x0 + la * 2 * (1 - t) ** 2 * (v_t - th_t) * x0 + lb * 2 * (v_0 - th(x0, 0.0)) * x0
    return dict(total=total, distill=l_distill, align=l_align, bc=l_bc, ga=ga, gb=gb, target=target)


@pytest.mark.parametrize("t0,x0", [(0.3, 0.5), (0.7, -0.25)])
def test_distill_loss_hand_computed(t0, x0):
    student, teacher = StubStudent(), StubTeacher()
    up = torch.full((1, 1, 1, 1), x0)
    hr = torch.zeros(1, 1, 1, 1)
    # sigma_p = 0 makes x0 = up(LR); t_min = t_max pins t.
    loss_fn = DistillLoss(sigma_p=0.0, dt=0.05, t_min=t0, t_max=t0, lambda_align=0.01, lambda_bc=0.1)
    total, parts = loss_fn(student, teacher, up, hr)
    t_seen = student.calls[0]
    assert torch.allclose(t_seen, torch.tensor([t0, t0 + 0.05, 0.0]), atol=1e-6)
    h = _hand(x0, t0, 0.05)
    assert total.shape == (1,)
    assert total.item() == pytest.approx(h["total"], rel=1e-5, abs=1e-7)
    assert parts["distill"].item() == pytest.approx(h["distill"], rel=1e-5, abs=1e-7)
    assert parts["align"].item() == pytest.approx(h["align"], rel=1e-5, abs=1e-7)
    assert parts["bc"].item() == pytest.approx(h["bc"], rel=1e-5, abs=1e-7)
    total.mean().backward()
    assert student.a.grad.item() == pytest.approx(h["ga"], rel=1e-4, abs=1e-6)
    assert student.b.grad.item() == pytest.approx(h["gb"], rel=1e-4, abs=1e-6)
    assert teacher.c.grad is None  # no gradient into the teacher


def test_distill_loss_hand_numbers_first_case():
    """The first case worked through on paper: x0 = 0.5, t = 0.3, s = 0.35.
    v_phi(t) = 1.1, v_phi(s) = 1.2, v_phi(0) = 0.5; x_t = 0.83; v_theta(x_t, t) = -0.83 + 0.18 = -0.65;
    x_mid = 0.83 - 0.025 * 0.65 = 0.81375; v_theta(x_mid, 0.325) = -0.81375 + 2 * 0.105625 = -0.6025;
    target = 1.1 + (0.05 / 0.35) (-0.6025 - 1.1) = 0.85678571...; L_distill = (1.2 - 0.856786)^2 = 0.117796...;
    L_align = (0.7 * 1.75)^2 = 1.500625; L_BC = (0.5 + 0.5)^2 = 1."""
    h = _hand(0.5, 0.3, 0.05)
    assert h["target"] == pytest.approx(1.1 + (0.05 / 0.35) * (-0.6025 - 1.1))
    assert h["align"] == pytest.approx(1.500625)
    assert h["bc"] == pytest.approx(1.0)
    loss_fn = DistillLoss(sigma_p=0.0, dt=0.05, t_min=0.3, t_max=0.3)
    total, parts = loss_fn(StubStudent(), StubTeacher(), torch.full((1, 1, 1, 1), 0.5), torch.zeros(1, 1, 1, 1))
    assert parts["distill"].item() == pytest.approx((1.2 - 0.8567857142857143) ** 2, rel=1e-5)
    assert total.item() == pytest.approx((1.2 - 0.8567857142857143) ** 2 + 0.01 * 1.500625 + 0.1 * 1.0, rel=1e-5)


def test_distill_gradient_only_through_v_phi_s():
    """With lambda_align = lambda_bc = 0 the gradient w.r.t. a is 2 (v_phi(s) - target) * s: only v_phi(s) carries
    gradient. Without the stop-gradient (target differentiated too, through v_phi(t) and through x_t into the teacher)
    the gradient would differ; that value is computed by autograd on the hand formula in float64."""
    student, teacher = StubStudent(), StubTeacher()
    loss_fn = DistillLoss(sigma_p=0.0, dt=0.05, t_min=0.3, t_max=0.3, lambda_align=0.0, lambda_bc=0.0)
    total, _ = loss_fn(student, teacher, torch.full((1, 1, 1, 1), 0.5), torch.zeros(1, 1, 1, 1))
    total.sum().backward()
    h = _hand(0.5, 0.3, 0.05, la=0.0, lb=0.0)
    s = 0.35
    assert student.a.grad.item() == pytest.approx(2 * (1.2 - h["target"]) * s, rel=1e-4)
    a = torch.tensor(2.0, dtype=torch.float64, requires_grad=True)
    no_sg = torch.autograd.grad(_hand(0.5, 0.3, 0.05, a=a, la=0.0, lb=0.0)["distill"], a)[0].item()
    assert abs(student.a.grad.item() - no_sg) > 1e-2


def test_distill_loss_s_clamped_at_one():
    student, teacher = StubStudent(), StubTeacher()
    loss_fn = DistillLoss(sigma_p=0.0, dt=0.05, t_min=0.98, t_max=0.98)
    loss_fn(student, teacher, torch.full((1, 1, 1, 1), 0.5), torch.zeros(1, 1, 1, 1))
    assert torch.allclose(student.calls[0], torch.tensor([0.98, 1.0, 0.0]), atol=1e-6)


def test_distill_loss_real_networks_grad_only_into_student():
    teacher = randomise(tiny_teacher(), seed=5).requires_grad_(True)
    student = OneStepStudent.from_teacher(teacher)
    randomise(student.time_offset, seed=6)
    up, hr = torch.rand(2, 3, 16, 16) * 2 - 1, torch.rand(2, 3, 16, 16) * 2 - 1
    total, parts = DistillLoss(0.1)(student, teacher, up, hr)
    assert total.shape == (2,) and torch.isfinite(total).all()
    assert set(parts) == {"distill", "align", "bc"}
    total.mean().backward()
    assert all(p.grad is None for p in teacher.parameters())
    grads = [p.grad for p in student.parameters() if p.grad is not None]
    assert grads and any(g.abs().sum() > 0 for g in grads)


def test_teacher_midpoint_velocity_is_exact_for_linear_flow():
    """For v(x, t) = c x the midpoint velocity over dt is c (1 + c dt / 2) x (one RK2 step, by hand)."""
    teacher = StubTeacher(c=-2.0, d=0.0)
    x = torch.full((1, 1, 1, 1), 0.4)
    v_eff, v_t = teacher_midpoint_velocity(teacher, x, None, torch.tensor([0.2]), torch.tensor([0.1]))
    assert v_t.item() == pytest.approx(-0.8)
    assert v_eff.item() == pytest.approx(-2.0 * (1 - 2.0 * 0.1 / 2) * 0.4)


# ----------------------------------------------------------------------------
# The realism term: a local amplitude-spectrum match against the ground truth.


def test_fourier_amplitude_loss_is_zero_on_the_truth_and_finite_on_flat_images():
    x = torch.rand(2, 3, 64, 48) * 2 - 1
    assert fourier_amplitude_loss(x, x).abs().max().item() < 1e-3  # the 1e-8 under the root
    flat = torch.zeros(1, 3, 32, 32, requires_grad=True)
    loss = fourier_amplitude_loss(flat, torch.rand(1, 3, 32, 32))
    loss.sum().backward()
    assert torch.isfinite(flat.grad).all()


def test_fourier_amplitude_loss_prefers_a_texture_of_the_right_energy_to_a_blur():
    """Another draw of the same texture (white noise, same sigma) scores better than a flat image, the regression
    answer that pixel l1 prefers: the reason the term exists."""
    g = torch.Generator().manual_seed(0)
    truth, other = (0.3 * torch.randn(4, 3, 96, 96, generator=g) for _ in range(2))
    flat = torch.zeros_like(truth)
    assert (other - truth).abs().mean() > (flat - truth).abs().mean()  # pixel l1 would pick the blur
    assert fourier_amplitude_loss(other, truth).mean() < 0.7 * fourier_amplitude_loss(flat, truth).mean()


def test_fourier_amplitude_loss_is_local():
    """Texture on the wrong half of the image costs more than texture on the right half."""
    g = torch.Generator().manual_seed(1)
    noise = 0.3 * torch.randn(1, 1, 64, 128, generator=g)
    truth = torch.cat([noise[..., :64], torch.zeros(1, 1, 64, 64)], dim=-1)
    right_half = torch.cat([0.3 * torch.randn(1, 1, 64, 64, generator=g), torch.zeros(1, 1, 64, 64)], dim=-1)
    wrong_half = torch.cat([torch.zeros(1, 1, 64, 64), 0.3 * torch.randn(1, 1, 64, 64, generator=g)], dim=-1)
    assert fourier_amplitude_loss(right_half, truth) < 0.6 * fourier_amplitude_loss(wrong_half, truth)


def test_fourier_amplitude_loss_rejects_images_smaller_than_a_window():
    with pytest.raises(ValueError, match="at least 32x32"):
        fourier_amplitude_loss(torch.zeros(1, 3, 16, 40), torch.zeros(1, 3, 16, 40))


def test_distill_loss_spectrum_term_is_s_squared_times_the_amplitude_loss_of_the_output_at_s():
    student, teacher = StubStudent(), StubTeacher()
    up = torch.rand(1, 1, 32, 32) * 2 - 1
    hr = torch.rand(1, 1, 32, 32) * 2 - 1
    base = DistillLoss(sigma_p=0.0, dt=0.05, t_min=0.5, t_max=0.5)
    with_term = DistillLoss(sigma_p=0.0, dt=0.05, t_min=0.5, t_max=0.5, lambda_spectrum=0.2)
    total0, _ = base(student, teacher, up, hr)
    total1, parts = with_term(student, teacher, up, hr)
    s = 0.55
    out_s = up + (student.a * s + student.b * up)  # x0 + v_phi(x0, s), sigma_p = 0
    expected = s**2 * fourier_amplitude_loss(out_s, hr)
    assert parts["spectrum"].item() == pytest.approx(expected.item(), rel=1e-5)
    assert (total1 - total0).item() == pytest.approx(0.2 * expected.item(), rel=1e-4)


def test_radial_emphasis_weights_high_frequencies_and_keeps_the_mean():
    w = radial_frequency_weight(32, 1.0)
    assert w.shape == (32, 17) and w.mean().item() == pytest.approx(1.0)
    assert w[0, 0].item() == 0.0  # the DC term is the fidelity terms' business
    assert w[16, 16].item() == pytest.approx(w.max().item())  # the corner: Nyquist in both directions
    assert w[0, 8].item() == pytest.approx(2 * w[0, 4].item())  # |k|^1


def test_band_limited_weight_drops_what_the_lr_carries_and_keeps_the_mean():
    w = radial_frequency_weight(32, 1.0, band=0.25)
    assert w.mean().item() == pytest.approx(1.0)
    assert w[0, :4].abs().max().item() == 0.0 and w[:4, 0].abs().max().item() == 0.0  # |k| < 1/8 cycle per pixel
    assert w[0, 4].item() > 0  # |k| = 1/8: the x4 LR's Nyquist frequency, the band's edge
    assert w[0, 8].item() == pytest.approx(2 * w[0, 4].item())


def test_band_limited_amplitude_loss_ignores_a_low_frequency_error_but_not_a_missing_texture():
    """A smooth shading error (the fidelity terms' business) costs the flat-weighted term, not the band-limited
    one; a missing fine texture costs both."""
    g = torch.Generator().manual_seed(2)
    yy, xx = torch.meshgrid(torch.arange(64.0), torch.arange(64.0), indexing="ij")
    texture = 0.3 * torch.randn(1, 1, 64, 64, generator=g)
    shaded = texture + 0.2 * torch.sin(2 * math.pi * (xx + yy) / 64)[None, None]
    flat = torch.zeros_like(texture)
    assert fourier_amplitude_loss(shaded, texture, band=0.25) < 0.05 * fourier_amplitude_loss(shaded, texture)
    assert fourier_amplitude_loss(flat, texture, band=0.25) > 100 * fourier_amplitude_loss(shaded, texture, band=0.25)
    assert fourier_amplitude_loss(flat, texture, band=0.25) == pytest.approx(
        fourier_amplitude_loss(flat, texture).item(), rel=0.05)


def test_rings_partition_the_band_and_average_within_each():
    weight, ring_of = frequency_cells(32, 8, 1, 1.0, 0.25)
    assert weight.shape == (8,) and weight.mean().item() == pytest.approx(1.0)
    assert bool((weight[1:] > weight[:-1]).all())  # |k|^1 at the ring centres
    assert ring_of[0, 3].item() == -1 and ring_of[0, 4].item() == 0  # below the band: no ring
    assert ring_of[16, 16].item() == 7  # the corner beyond Nyquist joins the last ring
    assert set(ring_of.flatten().tolist()) == set(range(-1, 8))
    power = torch.rand(2, 32, 17)
    pooled = cell_mean(power, ring_of, 8)
    for r in (0, 5, 7):
        assert pooled[1, r].item() == pytest.approx(power[1][ring_of == r].mean().item(), rel=1e-5)


def test_ring_pooled_loss_is_lowest_at_the_truths_texture_energy_where_per_frequency_l1_prefers_less():
    """White-noise texture against another draw at a times its amplitude: per frequency, the l1 optimum of a
    Rayleigh-distributed amplitude is its median, which rewards an output ~0.8 as strong as the truth; pooled in
    rings, the optimum is the truth's energy (a = 1)."""
    g = torch.Generator().manual_seed(3)
    truth = 0.3 * torch.randn(4, 3, 96, 96, generator=g)
    draw = 0.3 * torch.randn(4, 3, 96, 96, generator=g)

    def best_gain(**kw) -> float:
        gains = [0.6, 0.7, 0.8, 0.9, 1.0, 1.1, 1.2]
        losses = [fourier_amplitude_loss(a * draw, truth, emphasis=1, band=0.25, **kw).mean().item() for a in gains]
        return gains[losses.index(min(losses))]

    assert best_gain() <= 0.8
    assert best_gain(rings=8) == 1.0


def test_sectors_tell_an_oriented_texture_from_grain_of_the_same_energy():
    """Vertical stripes against white noise of equal energy per ring: whole rings cannot tell them apart; sectors of
    orientation can."""
    g = torch.Generator().manual_seed(4)
    xx = torch.arange(96.0)[None, :].expand(96, 96)
    stripes = sum(torch.cos(2 * math.pi * f * xx + 6.28 * torch.rand(1, generator=g)) for f in (0.2, 0.3, 0.4))
    stripes = (0.2 * stripes)[None, None].repeat(1, 3, 1, 1)
    grain = torch.randn(1, 3, 96, 96, generator=g)
    grain = grain * stripes.std() / grain.std()
    rings = dict(emphasis=1, band=0.25, rings=8)
    sectored = dict(rings, sectors=4)
    ratio_rings = fourier_amplitude_loss(grain, stripes, **rings) / fourier_amplitude_loss(0 * grain, stripes, **rings)
    ratio_sectors = (fourier_amplitude_loss(grain, stripes, **sectored)
                     / fourier_amplitude_loss(0 * grain, stripes, **sectored))
    assert ratio_sectors.item() > ratio_rings.item() + 0.15


def test_interpolated_realism_target_slides_from_the_fidelity_end_to_the_truth():
    loss = DistillLoss(sigma_p=0.0, lambda_spectrum=1.0, spectrum_emphasis=1, spectrum_band=0.25, spectrum_rings=8,
                       spectrum_sectors=4, spectrum_target="interpolate", spectrum_time_power=0)
    g = torch.Generator().manual_seed(5)
    smooth = 0.1 * torch.randn(2, 3, 64, 64, generator=g)
    truth = 0.3 * torch.randn(2, 3, 64, 64, generator=g)
    out = 0.3 * torch.randn(2, 3, 64, 64, generator=g)
    assert torch.allclose(loss.realism_loss(out, smooth, truth, torch.ones(2)),
                          fourier_amplitude_loss(out, truth, emphasis=1, band=0.25, rings=8, sectors=4))
    assert loss.realism_loss(smooth, smooth, truth, torch.zeros(2)).max().item() < 1e-6
    half = loss.realism_loss(out, smooth, truth, torch.full((2,), 0.5))
    spectrum = loss.spectrum
    middle = 0.5 * spectrum.amplitudes(smooth) + 0.5 * spectrum.amplitudes(truth)
    assert torch.allclose(half, spectrum.loss(out, middle))
    weighted = DistillLoss(sigma_p=0.0, lambda_spectrum=1.0, spectrum_emphasis=1, spectrum_band=0.25,
                           spectrum_rings=8, spectrum_sectors=4, spectrum_target="interpolate")
    assert torch.allclose(weighted.realism_loss(out, smooth, truth, torch.full((2,), 0.5)), 0.25 * half)
    with pytest.raises(ValueError, match="spectrum_target"):
        DistillLoss(sigma_p=0.0, spectrum_target="cosine")
