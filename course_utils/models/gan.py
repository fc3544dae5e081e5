"""MLP generators and discriminators (notebook 03), unconditional or conditioned on a label.

Goodfellow et al. (2014) for the game; Mirza & Osindero (2014), "Conditional Generative Adversarial
Nets", for the conditional versions: the one-hot label is concatenated to G's noise and to D's input.
"""

from __future__ import annotations

import math
from typing import Sequence

import torch
import torch.nn.functional as F
from torch import nn


def _activation(name: str) -> nn.Module:
    return {"relu": nn.ReLU(), "leaky_relu": nn.LeakyReLU(0.2)}[name]


class MLPGenerator(nn.Module):
    """G(z [, y]): noise ``[B, noise_dim]`` (and labels ``[B]``) → samples ``[B, *out_shape]``.

    Hidden layers: Linear → (BatchNorm1d) → activation. The output is ``tanh`` for images in [-1, 1]
    or linear (``tanh_output=False``) for unbounded data such as 2-D points.

    ``bn_momentum`` is PyTorch's (the weight of the new batch): Keras' ``BatchNormalization(momentum=0.8)``
    is PyTorch's 0.2, and Keras' default 0.99 is PyTorch's 0.01.
    """

    def __init__(self, noise_dim: int, out_shape: Sequence[int], hidden: Sequence[int] = (256, 512, 1024),
                 num_classes: int = 0, activation: str = "leaky_relu", batch_norm: bool = True,
                 bn_momentum: float = 0.1, tanh_output: bool = True) -> None:
        super().__init__()
        self.noise_dim, self.num_classes, self.out_shape = noise_dim, num_classes, tuple(out_shape)
        layers: list[nn.Module] = []
        width = noise_dim + num_classes
        for size in hidden:
            layers.append(nn.Linear(width, size))
            if batch_norm:
                layers.append(nn.BatchNorm1d(size, momentum=bn_momentum))
            layers.append(_activation(activation))
            width = size
        layers.append(nn.Linear(width, math.prod(self.out_shape)))
        if tanh_output:
            layers.append(nn.Tanh())
        self.net = nn.Sequential(*layers)

    def forward(self, z: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        if self.num_classes:
            z = torch.cat([z, F.one_hot(y, self.num_classes).to(z.dtype)], dim=1)
        return self.net(z).view(-1, *self.out_shape)


class MLPDiscriminator(nn.Module):
    """D(x [, y]): samples ``[B, *in_shape]`` (and labels ``[B]``) → logits ``[B, 1]`` (no sigmoid).

    Hidden layers: Linear → activation (→ Dropout). LeakyReLU(0.2) keeps gradients flowing for
    negative inputs (Radford et al., 2016).
    """

    def __init__(self, in_shape: Sequence[int], hidden: Sequence[int] = (512, 256), num_classes: int = 0,
                 activation: str = "leaky_relu", dropout: float = 0.0) -> None:
        super().__init__()
        self.num_classes = num_classes
        layers: list[nn.Module] = []
        width = math.prod(in_shape) + num_classes
        for size in hidden:
            layers += [nn.Linear(width, size), _activation(activation)]
            if dropout:
                layers.append(nn.Dropout(dropout))
            width = size
        layers.append(nn.Linear(width, 1))
        self.net = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        x = x.flatten(1)
        if self.num_classes:
            x = torch.cat([x, F.one_hot(y, self.num_classes).to(x.dtype)], dim=1)
        return self.net(x)


def gaussian_noise(noise_dim: int, num_classes: int = 0, device: torch.device | str = "cpu"):
    """A function ``n → G's inputs``: ``(z,)`` with z ~ N(0, I) ``[n, noise_dim]``, plus uniformly drawn
    labels ``[n]`` when ``num_classes`` > 0."""
    def sample(n: int, generator: torch.Generator | None = None) -> tuple[torch.Tensor, ...]:
        z = torch.randn(n, noise_dim, generator=generator).to(device)
        if not num_classes:
            return (z,)
        return z, torch.randint(num_classes, (n,), generator=generator).to(device)
    return sample


class PacDiscriminator(nn.Module):
    """PacGAN (Lin et al., 2018): D judges ``pack`` samples at once, concatenated, so a generator that
    repeats itself is easy to spot. ``[B, *in_shape]`` (B divisible by ``pack``) → logits ``[B / pack, 1]``."""

    def __init__(self, in_shape: Sequence[int], pack: int = 2, hidden: Sequence[int] = (512, 256),
                 activation: str = "leaky_relu") -> None:
        super().__init__()
        self.pack = pack
        self.net = MLPDiscriminator((pack * math.prod(in_shape),), hidden=hidden, activation=activation)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x.reshape(x.shape[0] // self.pack, -1))
