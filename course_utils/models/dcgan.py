"""DCGAN for 32×32 RGB images (Radford et al., 2016) with optional spectral normalisation (Miyato et al.,
2018), in the exact shapes of the homework behind notebook 04."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.parametrizations import spectral_norm as _spectral_norm


def _conv(in_channels: int, out_channels: int, *, stride: int, padding: int, batch_norm: bool,
          spectral_norm: bool) -> nn.Sequential:
    conv = nn.Conv2d(in_channels, out_channels, 5, stride=stride, padding=padding)
    layers: list[nn.Module] = [_spectral_norm(conv) if spectral_norm else conv]
    if batch_norm:
        layers.append(nn.BatchNorm2d(out_channels))
    return nn.Sequential(*layers)


class DCDiscriminator(nn.Module):
    """Four 5×5 stride-2 convs, 3 → conv_dim → 2·conv_dim → 4·conv_dim → 1, BatchNorm on all but the last,
    LeakyReLU(0.2) between them; spectral norm on every conv if ``spectral_norm``.

    ``[B, 3, 32, 32]`` → 16 → 8 → 4 → ``[B, 1, 1, 1]`` logits, returned as ``[B, 1]``.
    ``batch_norm=False`` drops the BatchNorms: a WGAN-GP critic must score each sample on its own
    (Gulrajani et al., 2017, sec. 4), which batch statistics would break.
    """

    def __init__(self, conv_dim: int = 64, spectral_norm: bool = False, batch_norm: bool = True) -> None:
        super().__init__()
        sn, bn = spectral_norm, batch_norm
        self.conv1 = _conv(3, conv_dim, stride=2, padding=2, batch_norm=bn, spectral_norm=sn)
        self.conv2 = _conv(conv_dim, 2 * conv_dim, stride=2, padding=2, batch_norm=bn, spectral_norm=sn)
        self.conv3 = _conv(2 * conv_dim, 4 * conv_dim, stride=2, padding=2, batch_norm=bn, spectral_norm=sn)
        self.conv4 = _conv(4 * conv_dim, 1, stride=2, padding=1, batch_norm=False, spectral_norm=sn)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for conv in (self.conv1, self.conv2, self.conv3):
            x = F.leaky_relu(conv(x), 0.2)
        return self.conv4(x).flatten(1)


class DCGenerator(nn.Module):
    """Linear + BatchNorm to a 4·conv_dim × 4 × 4 tensor, then three "upconv" blocks (×2 nearest upsampling
    + 5×5 conv, stride 1, padding 2): 4·conv_dim → 2·conv_dim → conv_dim → 3, BatchNorm and ReLU on all
    but the last, tanh output; spectral norm on the convs if ``spectral_norm``.

    ``[B, noise_size]`` → 4 → 8 → 16 → ``[B, 3, 32, 32]`` in (-1, 1).
    """

    def __init__(self, noise_size: int = 100, conv_dim: int = 64, spectral_norm: bool = False) -> None:
        super().__init__()
        self.conv_dim = conv_dim
        self.linear_bn = nn.Sequential(nn.Linear(noise_size, 4 * conv_dim * 4 * 4), nn.BatchNorm1d(4 * conv_dim * 4 * 4))
        sn = spectral_norm
        self.upconv1 = _conv(4 * conv_dim, 2 * conv_dim, stride=1, padding=2, batch_norm=True, spectral_norm=sn)
        self.upconv2 = _conv(2 * conv_dim, conv_dim, stride=1, padding=2, batch_norm=True, spectral_norm=sn)
        self.upconv3 = _conv(conv_dim, 3, stride=1, padding=2, batch_norm=False, spectral_norm=sn)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        x = F.relu(self.linear_bn(z)).view(-1, 4 * self.conv_dim, 4, 4)
        for block in (self.upconv1, self.upconv2):
            x = F.relu(block(F.interpolate(x, scale_factor=2, mode="nearest")))
        return torch.tanh(self.upconv3(F.interpolate(x, scale_factor=2, mode="nearest")))


def power_iteration(weight: torch.Tensor, iterations: int = 50, u: torch.Tensor | None = None,
                    eps: float = 1e-12) -> torch.Tensor:
    r"""The largest singular value of ``weight`` reshaped to ``[out, -1]``, by power iteration (Miyato et al.,
    2018, Algorithm 1): :math:`v \leftarrow W^\top u / \lVert W^\top u\rVert`,
    :math:`u \leftarrow W v / \lVert W v\rVert`, :math:`\sigma = u^\top W v`. Returns a 0-d tensor."""
    w = weight.detach().reshape(weight.shape[0], -1)
    u = torch.randn(w.shape[0], generator=torch.Generator().manual_seed(0)).to(w) if u is None else u
    u = F.normalize(u, dim=0, eps=eps)
    for _ in range(iterations):
        v = F.normalize(w.t() @ u, dim=0, eps=eps)
        u = F.normalize(w @ v, dim=0, eps=eps)
    return u @ w @ v
