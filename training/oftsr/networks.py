"""Networks: a tile-exact UNet backbone that runs at LR resolution, and the teacher/student preconditioning around it.

The backbone knows nothing about flows; `FlowDenoiser` (teacher) and `OneStepStudent` turn it into the paper's
v_theta(x_t, up(LR), t) and v_phi(x0, up(LR), t). Every layer is a convolution, a pixel (un)shuffle, a nearest
upsample or a per-channel FiLM driven by the scalar t: no statistics over space, so an output pixel depends only on
inputs within `receptive_radius()` LR pixels, and tiles whose origins are multiples of `alignment` agree with the
whole image.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field

import torch
import torch.nn.functional as F
from torch import nn

SCALE = 4


# ----------------------------------------------------------------------------
# Bicubic x4 upsampling as a fixed convolution (PyTorch's bicubic, a = -0.75, half-pixel centres, edge clamp).
# Written as replicate-pad + grouped 5x5 conv + pixel shuffle so the ONNX graph uses only Pad/Conv/DepthToSpace,
# which every onnxruntime backend (WebGPU included) runs, and so a tile's up-sampling matches the whole image's.


def _cubic(x: float, a: float = -0.75) -> float:
    x = abs(x)
    if x <= 1:
        return (a + 2) * x**3 - (a + 3) * x**2 + 1
    if x < 2:
        return a * x**3 - 5 * a * x**2 + 8 * a * x - 4 * a
    return 0.0


def bicubic_phase_taps(scale: int = SCALE) -> torch.Tensor:
    """taps[p, k]: weight of input i-2+k for output scale*i+p (5 taps cover every phase)."""
    taps = torch.zeros(scale, 5, dtype=torch.float64)
    for p in range(scale):
        src = (p + 0.5) / scale - 0.5
        base = math.floor(src)
        frac = src - base
        for j in range(-1, 3):
            taps[p, base + j + 2] = _cubic(j - frac)
    return taps


class BicubicUp(nn.Module):
    """up(LR): x4 bicubic, identical to F.interpolate(mode='bicubic', align_corners=False) with clamped borders."""

    def __init__(self, channels: int = 3, scale: int = SCALE):
        super().__init__()
        taps = bicubic_phase_taps(scale)
        kernel = torch.einsum("pk,ql->pqkl", taps, taps).reshape(scale * scale, 1, 5, 5)
        self.register_buffer("weight", kernel.repeat(channels, 1, 1, 1).float(), persistent=False)
        self.channels, self.scale = channels, scale

    def forward(self, lr: torch.Tensor) -> torch.Tensor:
        x = F.pad(lr, (2, 2, 2, 2), mode="replicate")
        x = F.conv2d(x, self.weight.to(lr.dtype), groups=self.channels)
        return F.pixel_shuffle(x, self.scale)


# ----------------------------------------------------------------------------
# Backbone.


def timestep_features(t: torch.Tensor, dim: int = 128) -> torch.Tensor:
    """Sinusoidal features of t in [0, 1] (t scaled by 1000 as in DDPM/EDM position embeddings)."""
    half = dim // 2
    freqs = torch.exp(-math.log(10000.0) * torch.arange(half, device=t.device, dtype=torch.float32) / half)
    args = (t.float() * 1000.0)[:, None] * freqs[None]
    return torch.cat([torch.cos(args), torch.sin(args)], dim=1)


class TimeEmbedding(nn.Module):
    def __init__(self, dim: int, feat_dim: int = 128):
        super().__init__()
        self.feat_dim = feat_dim
        self.mlp = nn.Sequential(nn.Linear(feat_dim, dim), nn.SiLU(), nn.Linear(dim, dim))

    def forward(self, t: torch.Tensor) -> torch.Tensor:
        return self.mlp(timestep_features(t, self.feat_dim))


class ResBlock(nn.Module):
    """Pre-activation residual block with FiLM from the time embedding; the second conv starts at zero (identity)."""

    def __init__(self, ch: int, emb_dim: int):
        super().__init__()
        self.conv1 = nn.Conv2d(ch, ch, 3, padding=1)
        self.film = nn.Linear(emb_dim, 2 * ch)
        self.conv2 = nn.Conv2d(ch, ch, 3, padding=1)
        nn.init.zeros_(self.conv2.weight)
        nn.init.zeros_(self.conv2.bias)

    def forward(self, x: torch.Tensor, emb: torch.Tensor) -> torch.Tensor:
        h = self.conv1(F.silu(x))
        scale, shift = self.film(emb)[:, :, None, None].chunk(2, dim=1)
        h = h * (1 + scale) + shift
        return x + self.conv2(F.silu(h))


@dataclass
class BackboneConfig:
    kind: str = "unet"  # "unet" (LRUNet) or "stack" (LRResStack: one level, RLFN/IMDN-like)
    in_channels: int = 6  # concat(state, up(LR)) at HR
    out_channels: int = 3
    channels: tuple[int, ...] = (64, 128, 224)  # per level; level 0 runs at LR resolution
    blocks: tuple[int, ...] = (2, 2, 2)  # per level, on the way down (and again up, except the deepest)
    emb_dim: int = 256
    unshuffle: int = SCALE

    def to_dict(self) -> dict:
        return asdict(self)


class LRUNet(nn.Module):
    """UNet over pixel-unshuffled HR inputs: HR (C, 4h, 4w) -> (16C, h, w) -> UNet -> (48, h, w) -> HR (3, 4h, 4w)."""

    def __init__(self, cfg: BackboneConfig):
        super().__init__()
        self.cfg = cfg
        r, ch = cfg.unshuffle, cfg.channels
        self.head = nn.Conv2d(cfg.in_channels * r * r, ch[0], 3, padding=1)
        self.down_blocks = nn.ModuleList()
        self.downsamples = nn.ModuleList()
        for i, c in enumerate(ch):
            self.down_blocks.append(nn.ModuleList(ResBlock(c, cfg.emb_dim) for _ in range(cfg.blocks[i])))
            if i + 1 < len(ch):
                self.downsamples.append(nn.Conv2d(c, ch[i + 1], 3, stride=2, padding=1))
        self.upsamples = nn.ModuleList()
        self.up_blocks = nn.ModuleList()
        for i in reversed(range(len(ch) - 1)):
            self.upsamples.append(nn.Conv2d(ch[i + 1], ch[i], 3, padding=1))
            self.up_blocks.append(nn.ModuleList(ResBlock(ch[i], cfg.emb_dim) for _ in range(cfg.blocks[i])))
        self.tail = nn.Conv2d(ch[0], cfg.out_channels * r * r, 3, padding=1)
        nn.init.zeros_(self.tail.weight)
        nn.init.zeros_(self.tail.bias)

    @property
    def alignment(self) -> int:
        """LR pixels: tile origins and sizes must be multiples of this for the strided levels to line up."""
        return 2 ** (len(self.cfg.channels) - 1)

    def forward(self, x: torch.Tensor, emb: torch.Tensor) -> torch.Tensor:
        h = self.head(F.pixel_unshuffle(x, self.cfg.unshuffle))
        skips = []
        for i, blocks in enumerate(self.down_blocks):
            for block in blocks:
                h = block(h, emb)
            if i < len(self.downsamples):
                skips.append(h)
                h = self.downsamples[i](h)
        for up, blocks in zip(self.upsamples, self.up_blocks):
            h = up(F.interpolate(h, scale_factor=2.0, mode="nearest")) + skips.pop()
            for block in blocks:
                h = block(h, emb)
        return F.pixel_shuffle(self.tail(F.silu(h)), self.cfg.unshuffle)


class LRResStack(nn.Module):
    """A plain residual stack at LR resolution, in the RLFN/IMDN family of efficient SR networks: pixel-unshuffled
    HR inputs -> head conv -> `blocks[0]` FiLM residual blocks at `channels[0]` -> conv + long skip -> tail -> HR.
    No strided level, so any tile origin is exact (alignment 1) and the receptive field grows by 2 LR px per block."""

    def __init__(self, cfg: BackboneConfig):
        super().__init__()
        self.cfg = cfg
        r, ch = cfg.unshuffle, cfg.channels[0]
        self.head = nn.Conv2d(cfg.in_channels * r * r, ch, 3, padding=1)
        self.body = nn.ModuleList(ResBlock(ch, cfg.emb_dim) for _ in range(cfg.blocks[0]))
        self.fuse = nn.Conv2d(ch, ch, 3, padding=1)
        self.tail = nn.Conv2d(ch, cfg.out_channels * r * r, 3, padding=1)
        nn.init.zeros_(self.tail.weight)
        nn.init.zeros_(self.tail.bias)

    alignment = 1

    def forward(self, x: torch.Tensor, emb: torch.Tensor) -> torch.Tensor:
        skip = h = self.head(F.pixel_unshuffle(x, self.cfg.unshuffle))
        for block in self.body:
            h = block(h, emb)
        h = self.fuse(F.silu(h)) + skip
        return F.pixel_shuffle(self.tail(F.silu(h)), self.cfg.unshuffle)


def make_backbone(cfg: BackboneConfig) -> nn.Module:
    if cfg.kind == "unet":
        return LRUNet(cfg)
    if cfg.kind == "stack":
        return LRResStack(cfg)
    raise ValueError(f"unknown backbone kind {cfg.kind!r} (unet or stack)")


# ----------------------------------------------------------------------------
# The flow: x0 = sqrt(1 - sigma_p^2) up(LR) + sigma_p eps,  x_t = (1 - t) x0 + t x1.


def x0_from_lr(up_lr: torch.Tensor, eps: torch.Tensor, sigma_p: float) -> torch.Tensor:
    """The noise-augmented start of the flow (VP form of the paper, eq. for x0)."""
    return math.sqrt(1.0 - sigma_p**2) * up_lr + sigma_p * eps


def xt_interpolate(x0: torch.Tensor, x1: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    t = t.view(-1, 1, 1, 1)
    return (1 - t) * x0 + t * x1


class FlowDenoiser(nn.Module):
    """Teacher. The backbone predicts the clean image x1_hat = up(LR) + F(concat(x_t, up(LR)), t); the velocity of the
    rectified flow follows as v = (x1_hat - x_t) / (1 - t). Predicting x1 rather than v keeps the injected noise out
    of the network's LR-resolution bottleneck (see training/README.md, "Parametrisation")."""

    def __init__(self, cfg: BackboneConfig, sigma_p: float):
        super().__init__()
        self.backbone = make_backbone(cfg)
        self.time_embed = TimeEmbedding(cfg.emb_dim)
        self.sigma_p = sigma_p

    def denoise(self, x_t: torch.Tensor, up_lr: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        return up_lr + self.backbone(torch.cat([x_t, up_lr], dim=1), self.time_embed(t))

    def velocity(self, x_t: torch.Tensor, up_lr: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        x1_hat = self.denoise(x_t, up_lr, t)
        return (x1_hat - x_t) / (1 - t).clamp_min(1e-3).view(-1, 1, 1, 1)


class OneStepStudent(nn.Module):
    """Student. One pass gives x1_hat(t) = x0 + v_phi(x0, up(LR), t), so v_phi = x1_hat(t) - x0.

    Same backbone as the teacher, fed x0 where the teacher takes x_t. Its time embedding is the teacher's embedding of
    t = 0 plus a learned offset that starts at zero: at initialisation the student gives the teacher's one-step
    (t = 0) estimate for every t, a clean starting point from which distillation moves each t along the trajectory.
    """

    def __init__(self, cfg: BackboneConfig, sigma_p: float):
        super().__init__()
        self.backbone = make_backbone(cfg)
        self.time_embed = TimeEmbedding(cfg.emb_dim)
        self.time_offset = TimeEmbedding(cfg.emb_dim)
        nn.init.zeros_(self.time_offset.mlp[-1].weight)
        nn.init.zeros_(self.time_offset.mlp[-1].bias)
        self.sigma_p = sigma_p

    @classmethod
    def from_teacher(cls, teacher: FlowDenoiser) -> "OneStepStudent":
        student = cls(teacher.backbone.cfg, teacher.sigma_p)
        student.backbone.load_state_dict(teacher.backbone.state_dict())
        student.time_embed.load_state_dict(teacher.time_embed.state_dict())
        return student

    def embed(self, t: torch.Tensor) -> torch.Tensor:
        return self.time_embed(torch.zeros_like(t)) + self.time_offset(t)

    def predict(self, x0: torch.Tensor, up_lr: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        """x1_hat(t) = x0 + v_phi(x0, up(LR), t)."""
        return up_lr + self.backbone(torch.cat([x0, up_lr], dim=1), self.embed(t))

    def velocity(self, x0: torch.Tensor, up_lr: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        return self.predict(x0, up_lr, t) - x0


class StudentGraph(nn.Module):
    """What ships (models/*.onnx): lr, noise, t in; sr out. Up-sampling and x0 happen inside the graph."""

    def __init__(self, student: OneStepStudent):
        super().__init__()
        self.student = student
        self.up = BicubicUp()

    def unclamped(self, lr: torch.Tensor, noise: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        up_lr = self.up(lr)
        x0 = x0_from_lr(up_lr, noise, self.student.sigma_p)
        return self.student.predict(x0, up_lr, t)

    def forward(self, lr: torch.Tensor, noise: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        return self.unclamped(lr, noise, t).clamp(-1.0, 1.0)


def receptive_radius(fn, make_inputs, size: int = 160, phases: int = 1) -> int:
    """Largest LR-pixel distance at which an input perturbation changes an output, found by a gradient probe.

    `make_inputs(h, w)` returns the args of `fn` for an LR size h x w, the first tensor being the probed input; `fn`
    must be free of saturating ops (use `StudentGraph.unclamped`) and its zero-initialised layers randomised. The
    gradient of one output pixel's sum w.r.t. the inputs is nonzero exactly on its dependency set. With strided
    levels the set depends on the pixel's phase within the alignment, so one pixel per phase (LR pixel
    size//2 + p on both axes, p < phases) is probed and the largest radius returned.
    """
    args = make_inputs(size, size)
    radius = 0
    for p in range(phases):
        probe = args[0].detach().clone().requires_grad_(True)
        out = fn(probe, *args[1:])
        in_scale = probe.shape[-1] // size
        out_scale = out.shape[-1] // size
        centre = size // 2 + p
        c = centre * out_scale
        out[..., c, c].sum().backward()
        grad = probe.grad.abs().sum(dim=(0, 1))
        ys, xs = torch.nonzero(grad > 0, as_tuple=True)
        dist = torch.maximum((ys // in_scale - centre).abs(), (xs // in_scale - centre).abs())
        radius = max(radius, int(dist.max()))
    return radius


@dataclass
class ModelConfig:
    backbone: BackboneConfig = field(default_factory=BackboneConfig)
    sigma_p: float = 0.1

    @classmethod
    def from_dict(cls, d: dict) -> "ModelConfig":
        b = dict(d.get("backbone", {}))
        for k in ("channels", "blocks"):
            if k in b:
                b[k] = tuple(b[k])
        return cls(backbone=BackboneConfig(**b), sigma_p=float(d.get("sigma_p", 0.1)))

    def to_dict(self) -> dict:
        return {"backbone": self.backbone.to_dict(), "sigma_p": self.sigma_p}


def count_params(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def macs_per_output_pixel(graph: "StudentGraph", lr_size: int = 64) -> float:
    """Multiply-accumulates of one StudentGraph pass per output (HR) pixel, counted over every convolution (the
    time MLPs run once per image and are left out), on an lr_size² input."""
    total = 0

    def hook(module: nn.Conv2d, inputs, output):
        nonlocal total
        k = module.weight[0].numel()  # (in / groups) * kh * kw
        total += output.numel() * k

    handles = [m.register_forward_hook(hook) for m in graph.modules() if isinstance(m, nn.Conv2d)]
    try:
        with torch.no_grad():
            lr = torch.zeros(1, 3, lr_size, lr_size)
            out = graph(lr, torch.zeros(1, 3, lr_size * SCALE, lr_size * SCALE), torch.zeros(1))
    finally:
        for h in handles:
            h.remove()
    # BicubicUp is a functional conv over a buffer, not a module: 25 taps x 16 phases x 3 channels per LR pixel.
    total += lr_size * lr_size * 3 * SCALE * SCALE * 25
    return total / (out.shape[-1] * out.shape[-2])
