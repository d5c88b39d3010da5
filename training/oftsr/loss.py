"""Losses. Each returns the unreduced per-sample loss [B]; the training loop takes the mean.

Stage 1 (teacher): the noise-augmented conditional rectified flow, l1 on the clean-image prediction.
Stage 2 (student): the same-ODE-trajectory distillation of OFTSR, L_distill + l_align L_align + l_BC L_BC.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from .networks import FlowDenoiser, OneStepStudent, x0_from_lr, xt_interpolate


def _per_sample_mean(x: torch.Tensor) -> torch.Tensor:
    return x.flatten(1).mean(dim=1)


# ----------------------------------------------------------------------------
# Stage 1.


class FlowLoss:
    """E_t || x1_hat(x_t, t) - x1 ||_1 w(t), t ~ U(t_min, 1).

    weighting='x1': plain l1 on the clean prediction (what we train with);
    weighting='v':  l1 on the velocity, v - (x1 - x0) = (x1_hat - x1) / (1 - t), i.e. the seed's loss.
    """

    def __init__(self, sigma_p: float, t_min: float = 0.001, weighting: str = "x1"):
        if weighting not in ("x1", "v"):
            raise ValueError(f"unknown weighting {weighting!r}")
        self.sigma_p, self.t_min, self.weighting = sigma_p, t_min, weighting

    def __call__(self, net: FlowDenoiser, up_lr: torch.Tensor, hr: torch.Tensor) -> torch.Tensor:
        b = hr.shape[0]
        t = torch.empty(b, device=hr.device).uniform_(self.t_min, 1.0)
        x0 = x0_from_lr(up_lr, torch.randn_like(hr), self.sigma_p)
        x_t = xt_interpolate(x0, hr, t)
        err = _per_sample_mean((net.denoise(x_t, up_lr, t) - hr).abs().float())
        if self.weighting == "v":
            err = err / (1 - t).clamp_min(1e-3)
        return err


# ----------------------------------------------------------------------------
# Stage 2.


@torch.no_grad()
def teacher_midpoint_velocity(teacher: FlowDenoiser, x_t, up_lr, t, dt):
    """The teacher's effective velocity over [t, t + dt] by one midpoint (RK2) step, and its velocity at t."""
    v_t = teacher.velocity(x_t, up_lr, t)
    x_mid = x_t + (dt / 2).view(-1, 1, 1, 1) * v_t
    return teacher.velocity(x_mid, up_lr, t + dt / 2), v_t


def distill_target(v_phi_t: torch.Tensor, v_teacher: torch.Tensor, dt: torch.Tensor, s: torch.Tensor) -> torch.Tensor:
    """SG[v_phi(t) + dt/s (v_theta - v_phi(t))]: where v_phi(s) must point so that x_s = x_t + dt v_theta."""
    ratio = (dt / s).view(-1, 1, 1, 1)
    return v_phi_t + ratio * (v_teacher - v_phi_t)


class DistillLoss:
    """L = L_distill + lambda_align L_align + lambda_BC L_BC (OFTSR, stage 2).

    The student's implicit state at t is x_t = x0 + t v_phi(x0, t). One midpoint step of the teacher from t to
    s = t + dt must land on the student's state at s:  x_s = x_t + dt v_theta.
      L_distill = || v_phi(s) - SG[v_phi(t) + dt/s (v_theta(x_t, t) - v_phi(t))] ||^2
      L_align   = || (1 - t) (v_phi(t) - v_theta(x_t, t)) ||^2
      L_BC      = || v_phi(0) - v_theta(x0, 0) ||^2
    Optionally (lambda_gt > 0, our addition, training/README.md) a boundary term against the ground truth at t = 0,
      L_GT      = || x0 + v_phi(0) - x1 ||_1,
    so that the fidelity end is trained as a regression SR model on every sample instead of inheriting the teacher's
    one-step estimate (which the teacher learns from the few samples with t near 0).
    Optionally (lambda_spectrum > 0, also ours) a realism term against the ground truth that grows with the time,
      L_spectrum = s^p || A(x0 + v_phi(s)) - A(x1) ||_1                                (spectrum_target 'truth')
      L_spectrum = s^p || A(x0 + v_phi(s)) - ((1 - s) SG[A(x0 + v_phi(0))] + s A(x1)) ||_1   ('interpolate'),
    A the local amplitude spectra (LocalSpectrum),
    so that the student's outputs towards t = 1 carry the truth's local high-frequency energy where a teacher
    trained for hours on a CPU leaves textures smooth; the amplitude, not the phase, is matched, so the texture need
    not sit where the truth's does. With spectrum_band = 1/4 only the frequencies a x4 LR cannot carry count: below
    them the amplitude match is one more fidelity term, which lifted t = 1's PSNR above t = 0.75's.
    """

    def __init__(self, sigma_p: float, dt: float = 0.05, t_min: float = 0.01, t_max: float = 0.99,
                 lambda_align: float = 0.01, lambda_bc: float = 0.1, lambda_gt: float = 0.0,
                 lambda_spectrum: float = 0.0, spectrum_emphasis: float = 0.0, spectrum_band: float = 0.0,
                 spectrum_rings: int = 0, spectrum_sectors: int = 1, spectrum_target: str = "truth",
                 spectrum_time_power: float = 2.0):
        if spectrum_target not in ("truth", "interpolate"):
            raise ValueError(f"unknown spectrum_target {spectrum_target!r}")
        self.sigma_p, self.dt, self.t_min, self.t_max = sigma_p, dt, t_min, t_max
        self.lambda_align, self.lambda_bc, self.lambda_gt = lambda_align, lambda_bc, lambda_gt
        self.lambda_spectrum, self.spectrum_target, self.spectrum_time_power = (lambda_spectrum, spectrum_target,
                                                                                 spectrum_time_power)
        self.spectrum = LocalSpectrum(emphasis=spectrum_emphasis, band=spectrum_band, rings=spectrum_rings,
                                      sectors=spectrum_sectors)

    def __call__(self, student: OneStepStudent, teacher: FlowDenoiser, up_lr: torch.Tensor, hr: torch.Tensor):
        b = hr.shape[0]
        x0 = x0_from_lr(up_lr, torch.randn_like(hr), self.sigma_p)
        t = torch.empty(b, device=hr.device).uniform_(self.t_min, self.t_max)
        s = (t + self.dt).clamp_max(1.0)
        dt = s - t
        zero = torch.zeros_like(t)

        # One batched student pass at (t, s, 0) on the same x0.
        v_phi = student.velocity(x0.repeat(3, 1, 1, 1), up_lr.repeat(3, 1, 1, 1), torch.cat([t, s, zero]))
        v_phi_t, v_phi_s, v_phi_0 = v_phi.float().chunk(3)

        with torch.no_grad():
            x_t = x0 + t.view(-1, 1, 1, 1) * v_phi_t.detach()
            v_teacher, v_theta_t = teacher_midpoint_velocity(teacher, x_t, up_lr, t, dt)
            v_theta_0 = teacher.velocity(x0, up_lr, zero)
            target = distill_target(v_phi_t.detach(), v_teacher.float(), dt, s)

        l_distill = _per_sample_mean((v_phi_s - target) ** 2)
        l_align = _per_sample_mean(((1 - t).view(-1, 1, 1, 1) * (v_phi_t - v_theta_t.float())) ** 2)
        l_bc = _per_sample_mean((v_phi_0 - v_theta_0.float()) ** 2)
        total = l_distill + self.lambda_align * l_align + self.lambda_bc * l_bc
        parts = {"distill": l_distill.detach(), "align": l_align.detach(), "bc": l_bc.detach()}
        if self.lambda_gt:
            l_gt = ground_truth_boundary_loss(x0, v_phi_0, hr)
            total = total + self.lambda_gt * l_gt
            parts["gt"] = l_gt.detach()
        if self.lambda_spectrum:
            l_spectrum = self.realism_loss(x0 + v_phi_s, (x0 + v_phi_0).detach(), hr, s)
            total = total + self.lambda_spectrum * l_spectrum
            parts["spectrum"] = l_spectrum.detach()
        return total, parts

    def realism_loss(self, out_s: torch.Tensor, out_0: torch.Tensor, x1: torch.Tensor, s: torch.Tensor):
        """s^p |A(out_s) - target| (A: the local amplitude spectra, p: spectrum_time_power), the target 'truth':
        A(x1), or 'interpolate': (1 - s) A(out_0) + s A(x1), the texture energy sliding from the fidelity end's to the
        truth's."""
        target = self.spectrum.amplitudes(x1)
        if self.spectrum_target == "interpolate":
            frac = s.view(-1, *([1] * (target.dim() - 1)))
            target = (1 - frac) * self.spectrum.amplitudes(out_0) + frac * target
        return s ** self.spectrum_time_power * self.spectrum.loss(out_s, target)


def ground_truth_boundary_loss(x0: torch.Tensor, v_phi_0: torch.Tensor, x1: torch.Tensor) -> torch.Tensor:
    """|| x0 + v_phi(0) - x1 ||_1: the student's t = 0 output against the HR image."""
    return _per_sample_mean((x0 + v_phi_0 - x1.float()).abs())


def hann_window_2d(size: int, device=None) -> torch.Tensor:
    w = torch.hann_window(size, periodic=False, device=device)
    return w[:, None] * w[None, :]


def local_power_spectra(img: torch.Tensor, window: int = 32, stride: int = 16) -> torch.Tensor:
    """|F(w x_p)|^2 of the Hann-windowed, window x window patches p of every channel (F: orthonormal rfft2)."""
    if min(img.shape[-2:]) < window:
        raise ValueError(f"local spectra need images of at least {window}x{window}, got {tuple(img.shape[-2:])}")
    patches = img.float().unfold(2, window, stride).unfold(3, window, stride)
    spec = torch.fft.rfft2(patches * hann_window_2d(window, img.device), norm="ortho")
    return spec.real ** 2 + spec.imag ** 2


class LocalSpectrum:
    """Local amplitude spectra of Hann-windowed, half-overlapping window x window patches of every channel, and the
    weighted l1 between them: a local power-spectrum match, after the Fourier-space loss of Fuoli et al. (ICCV 2021)
    without its phase term. Windows keep the energy where the truth has it (grass, not sky).

    `emphasis` p weights each frequency by |k|^p (normalised to mean 1): p = 1 matches the spectrum of the gradient,
    where the detail that x4 up-sampling must invent lives (above a quarter of the Nyquist frequency).
    `band` b drops the frequencies below b times the Nyquist frequency (b = 1/4: what a x4 LR image carries).
    `rings` n > 0 (with `sectors` m) compares the root-mean power of cells of n rings of equal width in |k| times
    m sectors of orientation, instead of each frequency. Of a texture the LR cannot pin down, each frequency's
    amplitude in the truth is one random draw; the l1 optimum of a deterministic output is its median, about 0.8 of
    its root-mean-square (Rayleigh), which leaves the output that much too smooth. A cell pools several draws, so its
    optimum nears the texture's energy; sectors keep the orientation, which whole rings would give away to grain.
    """

    def __init__(self, window: int = 32, stride: int = 16, emphasis: float = 0.0, band: float = 0.0, rings: int = 0,
                 sectors: int = 1):
        self.window, self.stride, self.rings, self.sectors = window, stride, rings, sectors
        if rings:
            self.weight, self.cell_of = frequency_cells(window, rings, sectors, emphasis, band)
        else:
            self.weight = radial_frequency_weight(window, emphasis, band=band) if emphasis or band else None

    def amplitudes(self, img: torch.Tensor) -> torch.Tensor:
        power = local_power_spectra(img, self.window, self.stride)
        if self.rings:
            power = cell_mean(power, self.cell_of.to(img.device), self.rings * self.sectors)
        return torch.sqrt(power + 1e-8)  # |.| with a finite gradient at 0

    def loss(self, x: torch.Tensor, target_amplitudes: torch.Tensor) -> torch.Tensor:
        err = (self.amplitudes(x) - target_amplitudes).abs()
        return _per_sample_mean(err if self.weight is None else err * self.weight.to(x.device))


def fourier_amplitude_loss(x: torch.Tensor, y: torch.Tensor, **options) -> torch.Tensor:
    """The LocalSpectrum l1 between x and y (options: LocalSpectrum's)."""
    spectrum = LocalSpectrum(**options)
    return spectrum.loss(x, spectrum.amplitudes(y))


def _radius_and_angle(window: int, device=None) -> tuple[torch.Tensor, torch.Tensor]:
    """|k| in cycles per pixel (Nyquist: 0.5) and the orientation in [0, pi) on the rfft2 grid of a window."""
    ky = torch.fft.fftfreq(window, device=device)[:, None]
    kx = torch.fft.rfftfreq(window, device=device)[None, :]
    return torch.sqrt(ky ** 2 + kx ** 2), torch.remainder(torch.atan2(ky, kx), math.pi)


def frequency_cells(window: int, rings: int, sectors: int, power: float, band: float, device=None):
    """(weight per cell, cell index per frequency): rings of equal width from band x Nyquist to Nyquist (the corners
    beyond it join the last ring) times sectors of equal orientation; each cell weighted by its ring centre's
    |k|^power, normalised to mean 1; frequencies below the band get index -1."""
    k, angle = _radius_and_angle(window, device)
    lo, hi = 0.5 * band, 0.5
    ring = ((k - lo) / (hi - lo) * rings).floor().clamp_max(rings - 1).long()
    sector = (angle / math.pi * sectors).floor().long().clamp_max(sectors - 1)
    cell_of = torch.where(k < lo, -1, ring * sectors + sector)
    centres = lo + (torch.arange(rings, device=device) + 0.5) * (hi - lo) / rings
    w = (centres ** power).repeat_interleave(sectors)
    return w / w.mean(), cell_of


def cell_mean(power: torch.Tensor, cell_of: torch.Tensor, cells: int) -> torch.Tensor:
    """Mean of a [..., window, window // 2 + 1] power spectrum over each cell: [..., cells]."""
    onehot = F.one_hot((cell_of + 1).flatten(), cells + 1)[:, 1:].to(power.dtype)  # index -1: no cell
    return power.flatten(-2) @ (onehot / onehot.sum(0).clamp_min(1))


def radial_frequency_weight(window: int, power: float, device=None, band: float = 0.0) -> torch.Tensor:
    """|k|^power on the rfft2 grid of a window, zero below band x Nyquist (|k| = 0.5 cycles per pixel), normalised
    to mean 1 over the grid, so that a band-limited term weighs as much in total as a flat one."""
    k = _radius_and_angle(window, device)[0]
    w = k ** power * (k >= 0.5 * band)
    return w / w.mean()
