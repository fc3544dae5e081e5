"""A small style-based generator for 32×32 RGB images (Karras et al., 2019, "A Style-Based Generator
Architecture for Generative Adversarial Networks", sec. 2, Fig. 1b), for notebook 08.

The parts keep the paper's names: a **mapping network** f: z → w (an MLP after pixel-normalising z), a
**synthesis network** g that starts from a learned constant 4×4 tensor, **AdaIN** (eq. 1) after every
convolution with a style y = (y_s, y_b) computed from w by a learned affine transform ("A" in Fig. 1b),
and **noise inputs** (single-channel Gaussian images scaled by learned per-channel factors, "B").
Two 3×3 convolutions per resolution, 4 → 8 → 16 → 32, so w enters eight layers; style mixing
(sec. 3.1) feeds one w to the coarse layers and another to the fine ones; the noise gives stochastic
variation (sec. 3.2); the truncation trick (appendix B) pulls w towards its mean w̄.

Simplifications against the paper, for a CPU budget: 4 mapping layers of width ``w_dim`` instead of 8 of
512, tens of channels instead of 512, nearest-neighbour upsampling without the blur filter, and plain
PyTorch initialisation instead of the equalised learning rate (the mapping network gets its
learning-rate multiplier through :meth:`StyleGenerator.param_groups` instead).
"""

from __future__ import annotations

from typing import Sequence

import torch
import torch.nn.functional as F
from torch import nn


def pixel_norm(x: torch.Tensor, eps: float = 1e-8) -> torch.Tensor:
    r"""Pixelwise feature normalisation (Karras et al., 2018, PGGAN, sec. 4.2), which StyleGAN applies to z:
    :math:`b = a / \sqrt{\tfrac1N \sum_j a_j^2 + \epsilon}` over the N features of *each sample* (dim 1),
    so every z lies on the sphere of radius √N. ``[B, N, ...]`` → same shape."""
    return x * torch.rsqrt(x.pow(2).mean(dim=1, keepdim=True) + eps)


def adain(x: torch.Tensor, style_scale: torch.Tensor, style_bias: torch.Tensor, eps: float = 1e-5) -> torch.Tensor:
    r"""Adaptive instance normalisation (Karras et al., 2019, eq. 1; Huang & Belongie, 2017):

    .. math:: \mathrm{AdaIN}(x_i, y) = y_{s,i}\,\frac{x_i - \mu(x_i)}{\sigma(x_i)} + y_{b,i},

    where :math:`\mu(x_i)`, :math:`\sigma(x_i)` are the mean and (biased) standard deviation of feature map
    i of one sample over its H×W positions, ε added to the variance. ``x``: ``[B, C, H, W]``;
    ``style_scale``, ``style_bias``: ``[B, C]`` (one style per sample) → ``[B, C, H, W]``.
    """
    return style_scale[:, :, None, None] * F.instance_norm(x, eps=eps) + style_bias[:, :, None, None]


class AdaIN(nn.Module):
    r"""The learned affine transform "A" from w to a style, then :func:`adain`.

    ``self.affine`` maps ``[B, w_dim]`` to ``[B, 2C]``: the first C outputs give the scale as
    :math:`y_s = 1 + A_s(w)` (the official implementation's convention: the affine's bias starts at 0, so a
    fresh layer leaves the normalised features unscaled), the last C the bias :math:`y_b = A_b(w)`.
    ``forward(x [B, C, H, W], w [B, w_dim])`` → ``[B, C, H, W]``.
    """

    def __init__(self, channels: int, w_dim: int) -> None:
        super().__init__()
        self.affine = nn.Linear(w_dim, 2 * channels)
        nn.init.zeros_(self.affine.bias)

    def forward(self, x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        scale, bias = self.affine(w).chunk(2, dim=1)     # [B, C] each
        return adain(x, 1 + scale, bias)


def he_init_(layers: Sequence[nn.Linear]) -> None:
    """He initialisation for layers followed by LeakyReLU(0.2), zero biases: the scale that StyleGAN's
    equalised learning rate applies at runtime (Karras et al., 2018, PGGAN, sec. 4.1). It keeps the
    variance of the activations through the mapping network; PyTorch's default (a third of it per layer)
    would shrink w towards a constant, and the generator would ignore z."""
    for layer in layers:
        nn.init.kaiming_normal_(layer.weight, a=0.2)
        nn.init.zeros_(layer.bias)


class MappingNetwork(nn.Module):
    r"""f: z → w (Karras et al., 2019, sec. 2, Fig. 1b): :func:`pixel_norm` of z, then ``num_layers`` fully
    connected layers (:func:`he_init_`), each followed by LeakyReLU(0.2) (as in the official implementation,
    the last one too). ``[B, z_dim]`` → ``[B, w_dim]``."""

    def __init__(self, z_dim: int = 64, w_dim: int = 64, num_layers: int = 4) -> None:
        super().__init__()
        self.layers = nn.ModuleList(nn.Linear(z_dim if i == 0 else w_dim, w_dim) for i in range(num_layers))
        he_init_(self.layers)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        x = pixel_norm(z)
        for layer in self.layers:
            x = F.leaky_relu(layer(x), 0.2)
        return x


class NoiseInjection(nn.Module):
    r"""Per-pixel noise "B" (Karras et al., 2019, sec. 2 and 3.2): a single-channel image of N(0, 1) noise per sample,
    broadcast to all C feature maps with a learned scale per channel (initialised to 0):
    :math:`x + b \odot n`. ``forward(x [B, C, H, W], noise [B, 1, H, W] or None)``; ``None`` draws fresh
    noise."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.zeros(channels))

    def forward(self, x: torch.Tensor, noise: torch.Tensor | None = None) -> torch.Tensor:
        if noise is None:
            noise = torch.randn(x.shape[0], 1, *x.shape[2:], device=x.device, dtype=x.dtype)
        return x + self.weight.view(1, -1, 1, 1) * noise


class StyleLayer(nn.Module):
    """One synthesis layer: [upsample ×2] → 3×3 conv (none on the constant) → noise → bias → LeakyReLU(0.2)
    → AdaIN with this layer's style. ``forward(x, w [B, w_dim], noise)`` → ``[B, out, H', W']``."""

    def __init__(self, in_channels: int, out_channels: int, w_dim: int, *, upsample: bool = False,
                 conv: bool = True, noise_injection: type[nn.Module] = NoiseInjection,
                 adain_layer: type[nn.Module] = AdaIN) -> None:
        super().__init__()
        self.upsample = upsample
        self.conv = nn.Conv2d(in_channels, out_channels, 3, padding=1, bias=False) if conv else None
        self.noise = noise_injection(out_channels)
        self.bias = nn.Parameter(torch.zeros(out_channels))
        self.adain = adain_layer(out_channels, w_dim)

    def forward(self, x: torch.Tensor, w: torch.Tensor, noise: torch.Tensor | None = None) -> torch.Tensor:
        if self.upsample:
            x = F.interpolate(x, scale_factor=2, mode="nearest")
        if self.conv is not None:
            x = self.conv(x)
        x = self.noise(x, noise)
        x = F.leaky_relu(x + self.bias.view(1, -1, 1, 1), 0.2)
        return self.adain(x, w)


class StyleGenerator(nn.Module):
    r"""The style-based generator (Karras et al., 2019, Fig. 1b) at 32×32.

    Mapping ``[B, z_dim]`` → w ``[B, w_dim]``; synthesis from a learned constant ``[channels[0], 4, 4]``
    through eight :class:`StyleLayer` s (two per resolution 4, 8, 16, 32; channels ``channels[k]`` at
    resolution 4·2^k), then a 1×1 "toRGB" conv to ``[B, 3, 32, 32]`` (no tanh, as in the paper; images
    are in [-1, 1]). Layer indices 0-3 (4² and 8²) are the *coarse* styles, 4-7 (16², 32²) the *fine*.

    ``forward(z)`` uses one w for all layers, except in training mode where, with probability
    ``mixing_prob``, a second z takes over from a random crossover layer (style-mixing regularisation,
    sec. 3.1). ``mapping_lr_mult`` is the paper's reduced learning rate of the mapping network
    (λ' = 0.01 λ there), applied by :meth:`param_groups`.
    """

    def __init__(self, z_dim: int = 64, w_dim: int = 64, channels: Sequence[int] = (64, 64, 32, 32),
                 mapping_layers: int = 4, mixing_prob: float = 0.9, mapping_lr_mult: float = 0.01,
                 mapping: nn.Module | None = None, noise_injection: type[nn.Module] = NoiseInjection,
                 adain_layer: type[nn.Module] = AdaIN) -> None:
        super().__init__()
        if len(channels) != 4:
            raise ValueError(f"channels needs one entry per resolution 4, 8, 16, 32; got {list(channels)}.")
        self.z_dim, self.w_dim, self.mixing_prob, self.mapping_lr_mult = z_dim, w_dim, mixing_prob, mapping_lr_mult
        self.mapping = mapping if mapping is not None else MappingNetwork(z_dim, w_dim, mapping_layers)
        self.const = nn.Parameter(torch.ones(1, channels[0], 4, 4))
        kw = dict(noise_injection=noise_injection, adain_layer=adain_layer)
        layers = [StyleLayer(channels[0], channels[0], w_dim, conv=False, **kw),
                  StyleLayer(channels[0], channels[0], w_dim, **kw)]
        for c_in, c_out in zip(channels[:-1], channels[1:]):
            layers += [StyleLayer(c_in, c_out, w_dim, upsample=True, **kw), StyleLayer(c_out, c_out, w_dim, **kw)]
        self.layers = nn.ModuleList(layers)
        self.to_rgb = nn.Conv2d(channels[-1], 3, 1)

    @property
    def num_layers(self) -> int:
        """How many layers take a style (8): the length of a ``ws`` for :meth:`synthesis`."""
        return len(self.layers)

    def layer_resolutions(self) -> list[int]:
        """The output resolution of each style layer: ``[4, 4, 8, 8, 16, 16, 32, 32]``."""
        return [4 * 2 ** (i // 2) for i in range(self.num_layers)]

    def synthesis(self, ws: torch.Tensor, noise: Sequence[torch.Tensor | None] | None = None) -> torch.Tensor:
        """g: styles ``ws`` ``[B, num_layers, w_dim]`` (one w per layer) → images ``[B, 3, 32, 32]``.

        ``noise``: one entry per layer, ``[B, 1, H, W]`` at that layer's resolution (zeros switch the
        layer's noise off) or ``None`` for fresh noise; ``None`` altogether draws fresh noise everywhere.
        """
        if ws.dim() != 3 or ws.shape[1] != self.num_layers:
            raise ValueError(f"ws must be [B, {self.num_layers}, w_dim], one w per layer; got {list(ws.shape)}.")
        noise = [None] * self.num_layers if noise is None else list(noise)
        x = self.const.expand(ws.shape[0], -1, -1, -1)
        for i, layer in enumerate(self.layers):
            x = layer(x, ws[:, i], noise[i])
        return self.to_rgb(x)

    def forward(self, z: torch.Tensor, noise: Sequence[torch.Tensor | None] | None = None) -> torch.Tensor:
        """``[B, z_dim]`` → ``[B, 3, 32, 32]``; style mixing regularisation in training mode (see the class)."""
        w = self.mapping(z)
        ws = w[:, None].expand(-1, self.num_layers, -1)
        if self.training and self.mixing_prob > 0 and torch.rand(()) < self.mixing_prob:
            w2 = self.mapping(torch.randn_like(z))
            ws = mix_styles(w, w2, int(torch.randint(1, self.num_layers, ())), self.num_layers)
        return self.synthesis(ws, noise)

    def make_noise(self, batch_size: int, generator: torch.Generator | None = None) -> list[torch.Tensor]:
        """Fixed noise for every layer: a list of ``[B, 1, H, W]`` N(0, 1) tensors, H = W = the layer's
        resolution, on the generator's device."""
        device = self.const.device
        return [torch.randn(batch_size, 1, r, r, generator=generator).to(device) for r in self.layer_resolutions()]

    @torch.no_grad()
    def mean_w(self, num_samples: int = 10_000, seed: int = 0) -> torch.Tensor:
        """w̄ = E_z[f(z)], estimated on ``num_samples`` draws of z: ``[w_dim]`` (the centre of the truncation
        trick; the paper keeps a running average during training instead)."""
        z = torch.randn(num_samples, self.z_dim, generator=torch.Generator().manual_seed(seed)).to(self.const.device)
        return self.mapping(z).mean(dim=0)

    def param_groups(self, lr: float) -> list[dict]:
        """Optimizer parameter groups: the mapping network at ``mapping_lr_mult · lr``, the rest at ``lr``."""
        mapping = list(self.mapping.parameters())
        ids = {id(p) for p in mapping}
        return [{"params": mapping, "lr": lr * self.mapping_lr_mult},
                {"params": [p for p in self.parameters() if id(p) not in ids], "lr": lr}]


def mix_styles(w1: torch.Tensor, w2: torch.Tensor, crossover: int, num_layers: int = 8) -> torch.Tensor:
    """Style mixing (Karras et al., 2019, sec. 3.1): layers ``< crossover`` take w1 (the coarse styles), the
    rest take w2. ``w1``, ``w2``: ``[B, w_dim]`` (or broadcastable to it) → ``ws`` ``[B, num_layers, w_dim]``.
    ``crossover`` = 4 gives w1 the 4² and 8² layers of :class:`StyleGenerator`."""
    if not 0 <= crossover <= num_layers:
        raise ValueError(f"crossover must be in 0..{num_layers}, got {crossover}.")
    w1, w2 = torch.broadcast_tensors(w1, w2)
    take_w1 = (torch.arange(num_layers, device=w1.device) < crossover).view(1, -1, 1)
    return torch.where(take_w1, w1[:, None], w2[:, None])


def truncate(w: torch.Tensor, w_avg: torch.Tensor, psi: float) -> torch.Tensor:
    r"""The truncation trick in W (Karras et al., 2019, appendix B): :math:`w' = \bar w + \psi (w - \bar w)`.
    ψ = 1 leaves w, ψ = 0 gives the mean image. ``w``: ``[B, w_dim]`` (or ``[B, L, w_dim]``), ``w_avg``: ``[w_dim]``
    → same shape as ``w``."""
    return w_avg + psi * (w - w_avg)


def per_pixel_std(images: torch.Tensor) -> torch.Tensor:
    """The standard deviation over a stack of images of the same w with different noise (Karras et al.,
    2019, sec. 3.2, Fig. 4): ``[N, 3, H, W]`` → ``[H, W]`` (averaged over the colour channels)."""
    return images.float().std(dim=0).mean(dim=0)


__all__ = ["AdaIN", "MappingNetwork", "NoiseInjection", "StyleGenerator", "StyleLayer", "adain", "he_init_",
           "mix_styles", "per_pixel_std", "pixel_norm", "truncate"]
